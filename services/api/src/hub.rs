//! One LISTEN connection per API process, fanned out by video id.
//!
//! Each watched video has a `watch` channel: a subscriber that falls behind sees the latest
//! state, never a backlog, so a slow websocket cannot slow the others. When the listener loses
//! its connection, notifications sent meanwhile are gone; every subscriber is then told to
//! resync (send a fresh snapshot).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vodnest_core::events::{KEYS_CHANGED_CHANNEL, VIDEO_EVENTS_CHANNEL, VideoEvent};

use crate::key_cache::KeyCache;

/// What a subscriber sees: the latest event, and how many resyncs happened so far. The count
/// is kept apart so that an event arriving right after a resync cannot hide it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HubState {
    pub resyncs: u64,
    pub event: Option<VideoEvent>,
}

#[derive(Clone, Default)]
pub struct EventHub {
    channels: Arc<Mutex<HashMap<Uuid, watch::Sender<HubState>>>>,
    /// Emptied when keys change (`vodnest_keys_changed`) and whenever LISTEN reconnects.
    keys: KeyCache,
    /// Woken by every video event and reconnect: a change of a video may have made webhook
    /// deliveries (see `webhooks::sender`).
    video_changes: Arc<Notify>,
}

/// A live subscription to one video; dropping it cleans up the channel once unused.
pub struct Subscription {
    id: Uuid,
    pub receiver: watch::Receiver<HubState>,
    hub: EventHub,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut channels = self.hub.lock();
        // This subscription's receiver is still alive here, hence 1.
        if channels
            .get(&self.id)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            channels.remove(&self.id);
        }
    }
}

impl EventHub {
    /// A hub that also keeps `keys` in step with revocations.
    pub fn new(keys: KeyCache) -> Self {
        Self {
            channels: Arc::default(),
            keys,
            video_changes: Arc::default(),
        }
    }

    /// Notified (one stored permit) whenever a video changed.
    pub fn video_changes(&self) -> Arc<Notify> {
        self.video_changes.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, watch::Sender<HubState>>> {
        // The map stays consistent whatever panicked while holding it.
        self.channels.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn subscribe(&self, id: Uuid) -> Subscription {
        let mut channels = self.lock();
        let receiver = channels
            .entry(id)
            .or_insert_with(|| watch::channel(HubState::default()).0)
            .subscribe();
        Subscription {
            id,
            receiver,
            hub: self.clone(),
        }
    }

    pub fn publish(&self, event: VideoEvent) {
        if let Some(sender) = self.lock().get(&event.id) {
            sender.send_modify(|state| state.event = Some(event));
        }
    }

    pub fn resync_all(&self) {
        for sender in self.lock().values() {
            sender.send_modify(|state| state.resyncs += 1);
        }
    }

    /// Number of videos with at least one subscriber.
    pub fn watched_videos(&self) -> usize {
        self.lock().len()
    }

    /// Listens until `cancel` fires. A lost connection is an expected, passing failure: it is
    /// restarted here with backoff (and subscribers resync) rather than ending the task, whose
    /// end before `cancel` would stop the API (see [`crate::background`]).
    pub async fn run_listener(self, pool: PgPool, cancel: CancellationToken) {
        let mut delay = Duration::from_millis(200);
        loop {
            let listener = tokio::select! {
                _ = cancel.cancelled() => return,
                listener = connect(&pool) => listener,
            };
            let mut listener = match listener {
                Ok(listener) => listener,
                Err(err) => {
                    tracing::warn!(error = %err, "event listener cannot connect; retrying");
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            delay = Duration::from_millis(200);
            // Anything may have changed while no connection was listening, keys included.
            self.keys.clear();
            self.resync_all();
            self.video_changes.notify_one();
            loop {
                let received = tokio::select! {
                    _ = cancel.cancelled() => return,
                    received = listener.try_recv() => received,
                };
                match received {
                    Ok(Some(notification)) if notification.channel() == KEYS_CHANGED_CHANNEL => {
                        self.keys.clear();
                    }
                    Ok(Some(notification)) => {
                        self.video_changes.notify_one();
                        match serde_json::from_str::<VideoEvent>(notification.payload()) {
                            Ok(event) => self.publish(event),
                            Err(err) => tracing::warn!(error = %err, "unreadable video event"),
                        }
                    }
                    Ok(None) | Err(_) => {
                        tracing::warn!("event listener lost its connection; reconnecting");
                        break;
                    }
                }
            }
        }
    }
}

async fn connect(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.ignore_pool_close_event(true);
    listener
        .listen_all([VIDEO_EVENTS_CHANNEL, KEYS_CHANGED_CHANNEL])
        .await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: Uuid, progress: f64) -> VideoEvent {
        VideoEvent {
            id,
            status: vodnest_core::domain::VideoStatus::Processing,
            progress,
            playable: false,
            stage: Some("transcoding".into()),
            error: None,
            deleted: false,
            encoding: None,
        }
    }

    #[tokio::test]
    async fn subscribers_see_the_latest_event_of_their_video_only() {
        let hub = EventHub::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut sub_a = hub.subscribe(a);
        let sub_b = hub.subscribe(b);
        hub.publish(event(a, 0.1));
        hub.publish(event(a, 0.2));
        assert!(sub_a.receiver.has_changed().unwrap_or(false));
        assert_eq!(
            sub_a.receiver.borrow_and_update().event,
            Some(event(a, 0.2))
        );
        assert!(!sub_b.receiver.has_changed().unwrap_or(true));
        hub.resync_all();
        hub.publish(event(a, 0.3));
        let seen = sub_a.receiver.borrow_and_update().clone();
        assert_eq!(
            seen.resyncs, 1,
            "an event right after a resync does not hide it"
        );
        assert_eq!(seen.event, Some(event(a, 0.3)));
    }

    #[tokio::test]
    async fn channels_are_dropped_with_their_last_subscriber() {
        let hub = EventHub::default();
        let id = Uuid::new_v4();
        let first = hub.subscribe(id);
        let second = hub.subscribe(id);
        assert_eq!(hub.watched_videos(), 1);
        drop(first);
        assert_eq!(hub.watched_videos(), 1);
        drop(second);
        assert_eq!(hub.watched_videos(), 0);
    }
}
