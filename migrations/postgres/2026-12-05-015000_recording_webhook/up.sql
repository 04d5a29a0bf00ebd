-- The video system's recording webhook: the recording of each call room, attached by room id
-- (a call gets a new room at every claim), and the nonces of accepted deliveries (a replayed
-- delivery is refused, across processes).
CREATE TABLE video_call_recordings (
    room_ref TEXT PRIMARY KEY NOT NULL,
    video_call_id TEXT NOT NULL REFERENCES video_calls (id),
    uri TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX video_call_recordings_call ON video_call_recordings (video_call_id);

CREATE TABLE recording_webhook_nonces (
    nonce TEXT PRIMARY KEY NOT NULL,
    received_at TIMESTAMP NOT NULL
);
