"""PostgreSQL only: ``chat_post_message``, a chat message's whole write in one round trip.

chat/services.py ``send_message`` calls it on PostgreSQL (docs/adr/0015). Elsewhere (SQLite in
development) the same steps run as a Django transaction. The function writes nothing and returns
no row when its fast path does not apply (no room state or participant row yet, slow mode on for a
viewer); the caller then runs that transaction, which handles every case.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION chat_post_message(
    p_session bigint,
    p_author bigint,
    p_client_id varchar,
    p_text text,
    p_status varchar,
    p_created_at timestamptz,
    p_updated_at timestamptz,
    p_moderator boolean
) RETURNS TABLE (message_id bigint, message_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_seq bigint;
    v_slow integer;
BEGIN
    SELECT slow_mode_seconds INTO v_slow FROM chat_roomstate WHERE session_id = p_session;
    IF NOT FOUND OR (v_slow > 0 AND NOT p_moderator) THEN
        RETURN;
    END IF;
    -- The participant's row, then the room's: the order record_reactions takes them in.
    UPDATE chat_participant SET messages = messages + 1 WHERE session_id = p_session AND user_id = p_author;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- The room's row lock is held to the end of the transaction: numbers commit in order.
    UPDATE chat_roomstate SET last_seq = last_seq + 1, updated_at = p_updated_at
        WHERE session_id = p_session
        RETURNING last_seq, slow_mode_seconds INTO v_seq, v_slow;
    IF v_slow > 0 AND NOT p_moderator THEN
        -- Slow mode was turned on since the first read: undo it all, the caller checks it.
        RAISE EXCEPTION 'slow mode changed' USING ERRCODE = 'IFC01';
    END IF;
    INSERT INTO chat_chatmessage (session_id, seq, author_id, client_id, text, status, created_at)
        VALUES (p_session, v_seq, p_author, p_client_id, p_text, p_status, p_created_at)
        RETURNING id INTO message_id;
    message_seq := v_seq;
    RETURN NEXT;
END
$$;
"""

DROP = "DROP FUNCTION IF EXISTS chat_post_message(bigint, bigint, varchar, text, varchar, timestamptz, timestamptz, boolean);"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("chat", "0001_live_room")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
