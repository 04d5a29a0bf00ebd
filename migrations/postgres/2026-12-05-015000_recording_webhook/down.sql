DROP TABLE recording_webhook_nonces;
DROP TABLE video_call_recordings;
