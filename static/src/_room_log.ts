// The chat as this page knows it, without a DOM: messages in sequence order, each once.
// A message can reach the page several ways (the live broadcast, the sender's ack, a snapshot
// after a reconnect that overlaps what arrived live); the sequence number and the id decide, so
// a merge never shows a message twice and never out of order. Deleted ids are remembered so a
// late copy (a snapshot racing the delete) does not bring one back.

import type { ChatMessage } from "./_room_protocol";

export type Placement =
  /** New: insert before the message with sequence ``beforeSeq`` (null: at the end). */
  | { kind: "insert"; beforeSeq: number | null }
  /** Known already (same id or sequence) or deleted: nothing to show. */
  | { kind: "duplicate" };

export class ChatLog {
  /** The highest sequence number seen: what `room.join` asks to resume after. */
  lastSeq = 0;
  private readonly seqs: number[] = []; // ascending
  private readonly bySeq = new Map<number, ChatMessage>();
  private readonly seqById = new Map<number, number>();
  private readonly deleted = new Set<number>();

  constructor(private readonly limit = 1000) {}

  get size(): number {
    return this.seqs.length;
  }

  has(id: number): boolean {
    return this.seqById.has(id);
  }

  get(id: number): ChatMessage | undefined {
    const seq = this.seqById.get(id);
    return seq === undefined ? undefined : this.bySeq.get(seq);
  }

  /** The message with this sequence number, if shown. */
  atSeq(seq: number): ChatMessage | undefined {
    return this.bySeq.get(seq);
  }

  /** The messages in order (oldest first). */
  messages(): ChatMessage[] {
    return this.seqs.map((seq) => this.bySeq.get(seq) as ChatMessage);
  }

  /** Adds a message and says where it goes; ``duplicate`` when it is known or was deleted. */
  add(message: ChatMessage): Placement {
    if (this.deleted.has(message.id) || this.seqById.has(message.id) || this.bySeq.has(message.seq)) {
      // The same message again: the later copy wins (the server's time and cleaned text after an ack).
      if (this.seqById.get(message.id) === message.seq) this.bySeq.set(message.seq, message);
      this.lastSeq = Math.max(this.lastSeq, message.seq);
      return { kind: "duplicate" };
    }
    const index = this.insertionIndex(message.seq);
    this.seqs.splice(index, 0, message.seq);
    this.bySeq.set(message.seq, message);
    this.seqById.set(message.id, message.seq);
    this.lastSeq = Math.max(this.lastSeq, message.seq);
    const beforeSeq = index + 1 < this.seqs.length ? (this.seqs[index + 1] as number) : null;
    return { kind: "insert", beforeSeq };
  }

  /** Forgets a message for good; true if it was shown. */
  remove(id: number): boolean {
    this.deleted.add(id);
    const seq = this.seqById.get(id);
    if (seq === undefined) return false;
    this.seqById.delete(id);
    this.bySeq.delete(seq);
    this.seqs.splice(this.insertionIndex(seq), 1);
    return true;
  }

  /** Forgets every message (a snapshot that starts from scratch); deletions stay remembered. */
  clear(): number[] {
    const ids = [...this.seqById.keys()];
    this.seqs.length = 0;
    this.bySeq.clear();
    this.seqById.clear();
    this.lastSeq = 0;
    return ids;
  }

  /** Drops the oldest messages beyond the limit; returns their ids (for the DOM to follow). */
  trim(): number[] {
    const dropped: number[] = [];
    while (this.seqs.length > this.limit) {
      const seq = this.seqs.shift() as number;
      const message = this.bySeq.get(seq);
      this.bySeq.delete(seq);
      if (message !== undefined) {
        this.seqById.delete(message.id);
        dropped.push(message.id);
      }
    }
    return dropped;
  }

  /** Binary search: the index of ``seq`` if present, else where it would go. */
  private insertionIndex(seq: number): number {
    let low = 0;
    let high = this.seqs.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.seqs[middle] as number) < seq) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
