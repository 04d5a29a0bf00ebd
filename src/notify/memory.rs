//! In-memory back end for tests of the layers above delivery.

use std::sync::{Arc, Mutex};

use super::Delivery;

#[derive(Clone, Default)]
pub struct MemorySink {
    delivered: Arc<Mutex<Vec<Delivery>>>,
}

impl MemorySink {
    pub(super) fn push(&self, d: Delivery) {
        // A poisoned lock only means a test thread panicked while holding it; keep the data.
        self.delivered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(d);
    }

    /// Everything delivered so far, oldest first.
    pub fn delivered(&self) -> Vec<Delivery> {
        self.delivered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
