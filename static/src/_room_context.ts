// What every part of the live room shares: the socket, the clock, who "me" is, the translated
// texts, the reader's time format and the room's polite status line.

import type { Message } from "./_live_signal";
import type { Person } from "./_room_protocol";
import type { Strings, TimeFormat } from "./_room_text";

export interface RoomContext {
  readonly strings: Strings;
  readonly times: TimeFormat;
  /** Sends one message if the socket is open (false otherwise: nothing was sent). */
  send(message: Message): boolean;
  /** The room was joined on the current connection (room.snapshot arrived). */
  joined(): boolean;
  /** The server's clock, ms since the epoch. */
  serverNow(): number;
  me(): Person | null;
  /** The guide of this tour or staff: sees the moderation tools (the server checks every action). */
  canModerate(): boolean;
  /** The session is over or this person was removed: nothing can be written any more. */
  readOnly(): boolean;
  /** A short polite status text (errors, confirmations); cleared after a while. */
  status(text: string): void;
  /** Opens the moderation dialog for a person (and optionally one of their messages). */
  moderatePerson(someone: Person): void;
}
