DROP TABLE outbox_messages;
DROP TABLE otp_challenges;
