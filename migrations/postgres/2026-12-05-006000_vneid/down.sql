DELETE FROM outbox_messages WHERE channel = 'vneid_hub';
ALTER TABLE outbox_messages DROP CONSTRAINT outbox_messages_channel_check;
ALTER TABLE outbox_messages ADD CONSTRAINT outbox_messages_channel_check
    CHECK (channel IN ('sms', 'email'));
DROP TABLE vneid_jtis;
DROP TABLE vneid_registrations;
