//! File back end (the development default): each message becomes a readable UTF-8 file under
//! `<data_dir>/outbox/`, and the path is logged, so whoever tries the service can read the
//! code it sent. Never for production: the files hold codes in clear.

use std::path::PathBuf;

use super::{Delivery, DeliveryError};

#[derive(Clone)]
pub struct FileSink {
    dir: PathBuf,
}

impl FileSink {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub(super) async fn write(&self, d: &Delivery) -> Result<(), DeliveryError> {
        let path = self
            .dir
            .join(format!("{}.{}.txt", d.message_id, d.channel.as_str()));
        let mut text = format!("To: {}\nMessage-Id: {}\n", d.to, d.message_id);
        if !d.subject.is_empty() {
            text.push_str(&format!("Subject: {}\n", d.subject));
        }
        // The attachment beside the text, under the message id (its name is ours, never a
        // citizen's).
        let attached = d.attachment.as_ref().map(|a| {
            (
                self.dir.join(format!("{}.{}", d.message_id, a.filename)),
                a.bytes.clone(),
            )
        });
        if let Some((file, _)) = &attached {
            text.push_str(&format!("Attachment: {}\n", file.display()));
        }
        text.push('\n');
        text.push_str(&d.text);
        text.push('\n');
        let dir = self.dir.clone();
        let target = path.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            if let Some((file, bytes)) = attached {
                std::fs::write(file, bytes)?;
            }
            std::fs::write(&target, text)
        })
        .await
        .map_err(|e| DeliveryError::transient(format!("file back end: {e}")))?
        .map_err(|e| DeliveryError::transient(format!("{}: {e}", path.display())))?;
        tracing::info!(path = %path.display(), channel = d.channel.as_str(), "message written to file (development back end)");
        Ok(())
    }
}
