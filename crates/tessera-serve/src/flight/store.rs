//! Server-side state a Flight SQL client refers to by an opaque id: session handles,
//! statement tickets, prepared statements. Each entry expires when unused for the idle
//! timeout, and the store holds at most [`MAX_ENTRIES`] (when full, expired entries go,
//! then the least recently used), so an abandoned or hostile client cannot grow it
//! without bound.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::RngCore;

/// Entries one store keeps at most.
pub(super) const MAX_ENTRIES: usize = 10_000;

/// Values under random ids, each forgotten once unused for `ttl`.
pub(super) struct Expiring<V> {
    prefix: &'static str,
    ttl: Duration,
    entries: Mutex<HashMap<String, (V, Instant)>>,
}

impl<V: Clone> Expiring<V> {
    /// Ids start with `prefix`, so a log or an error can tell what they are.
    pub(super) fn new(prefix: &'static str, ttl: Duration) -> Expiring<V> {
        Expiring {
            prefix,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps `value` and returns its new id (32 random bytes: not guessable).
    pub(super) fn insert(&self, value: V) -> String {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let id = format!(
            "{}{}",
            self.prefix,
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        let now = Instant::now();
        let mut entries = self.entries.lock().expect("store lock is never poisoned");
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (_, used)| now.duration_since(*used) < self.ttl);
        }
        if entries.len() >= MAX_ENTRIES
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(id, _)| id.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(id.clone(), (value, now));
        id
    }

    /// The value under `id`, if it has not expired; marks it used.
    pub(super) fn get(&self, id: &str) -> Option<V> {
        let now = Instant::now();
        let mut entries = self.entries.lock().expect("store lock is never poisoned");
        match entries.get_mut(id) {
            Some((value, used)) if now.duration_since(*used) < self.ttl => {
                *used = now;
                Some(value.clone())
            }
            Some(_) => {
                entries.remove(id);
                None
            }
            None => None,
        }
    }

    /// Replaces the value under `id`; false when it is gone.
    pub(super) fn replace(&self, id: &str, value: V) -> bool {
        let mut entries = self.entries.lock().expect("store lock is never poisoned");
        match entries.get_mut(id) {
            Some(entry) => {
                *entry = (value, Instant::now());
                true
            }
            None => false,
        }
    }

    pub(super) fn remove(&self, id: &str) -> Option<V> {
        self.entries
            .lock()
            .expect("store lock is never poisoned")
            .remove(id)
            .map(|(v, _)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_prefixed_and_entries_expire_when_unused() {
        let store = Expiring::new("tst_", Duration::from_millis(50));
        let a = store.insert(1);
        let b = store.insert(2);
        assert!(a.starts_with("tst_") && a.len() > 40, "{a}");
        assert_ne!(a, b);
        assert_eq!(store.get(&a), Some(1));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(store.get(&a), None);
        assert_eq!(store.get("tst_unknown"), None);
    }

    #[test]
    fn a_full_store_forgets_the_least_recently_used() {
        let store = Expiring::new("tst_", Duration::from_secs(60));
        let first = store.insert(0);
        let second = store.insert(1);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(store.get(&first), Some(0)); // now the second is the oldest
        for i in 2..MAX_ENTRIES {
            store.insert(i);
        }
        store.insert(MAX_ENTRIES);
        assert_eq!(store.get(&second), None);
        assert_eq!(store.get(&first), Some(0));
    }
}
