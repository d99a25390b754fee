//! `[ha]`: what a running guardian does while its PostgreSQL database is unreachable. The
//! monitor follows every chain on a local SQLite file of this instance
//! ([`crate::monitor::offline`]); here the alerts stored there are answered, a `respond` rule's
//! pause journalled in that file, through the same dispatch as always. Their contacts are told
//! once the database is back, from the database (the monitor writes the file in, then dispatches
//! what is new to it): told once, however many instances kept the same alert.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::{ServiceError, dispatch::Dispatcher};
use crate::{
    deployment::{
        Deployment, OfflineLock, absorb_monitor_files, hold_offline, monitor_offline_path,
    },
    monitor::{MonitorEvent, lease::Ha, offline::Fallback},
    notify::Contacts,
    storage::{StorageError, Store},
};

/// This instance's local file, held while it runs.
pub(super) struct Offline {
    twin: Deployment,
    store: Arc<Store>,
    manifest: std::path::PathBuf,
    _hold: OfflineLock,
}

impl Offline {
    /// Writes into `store` what earlier instances kept on their files (the ids of the alerts
    /// new to it, still to be dispatched), then opens and holds this instance's file.
    pub(super) fn open(
        deployment: &Deployment,
        store: &Store,
        ha: &Ha,
    ) -> Result<(Self, Vec<i64>), ServiceError> {
        let owed = absorb_monitor_files(store, &deployment.path, None)?;
        let path = monitor_offline_path(&deployment.path, &ha.instance);
        let refused = |e: std::io::Error| -> ServiceError {
            StorageError::Open {
                path: path.display().to_string(),
                source: rusqlite::Error::InvalidPath(e.to_string().into()),
            }
            .into()
        };
        let hold = hold_offline(&path)
            .map_err(refused)?
            .ok_or_else(|| refused(std::io::Error::other("another process is absorbing it")))?;
        let why = format!(
            "the database is unreachable: records are kept in {} until it is back",
            path.display()
        );
        let twin = deployment.twin_on(Store::open(&path)?, why);
        let store = Arc::new(Store::open(&path)?);
        Ok((
            Offline {
                twin,
                store,
                manifest: deployment.path.clone(),
                _hold: hold,
            },
            owed,
        ))
    }

    /// Where the monitor follows the chains while the database is unreachable, and the
    /// receiving end of its alerts (for [`Offline::answer`]).
    pub(super) fn fallback(&self) -> (Fallback, mpsc::UnboundedReceiver<MonitorEvent>) {
        let (events, rx) = mpsc::unbounded_channel();
        (
            Fallback {
                store: self.store.clone(),
                events,
            },
            rx,
        )
    }

    /// Answers the alerts stored on the local file until the monitor stops: the automatic
    /// response runs on it (its contacts are told from the database, later).
    pub(super) async fn answer(
        &self,
        contacts: Arc<Contacts>,
        events: mpsc::UnboundedReceiver<MonitorEvent>,
    ) {
        let dispatcher = Dispatcher::new(&self.twin, self.store.clone(), contacts, None);
        dispatcher
            .run(events, |event, done| {
                if let Some(Err(e)) = &done.response {
                    tracing::error!(
                        alert = event.alert().id,
                        "the automatic response on the local file failed: {e}"
                    );
                } else if done.response.is_some() {
                    tracing::warn!(
                        alert = event.alert().id,
                        "answered on the local file while the database is unreachable"
                    );
                }
            })
            .await;
    }

    /// Lets the file go and, when the database answers, writes in what it holds (this
    /// instance's and any other stopped instance's) and sets it aside. Alerts written in are
    /// dispatched by the next holder of their chain.
    pub(super) fn close(self, store: &Store) {
        let manifest = self.manifest.clone();
        drop(self);
        match absorb_monitor_files(store, &manifest, None) {
            Ok(owed) if !owed.is_empty() => tracing::warn!(
                "wrote in {} alert(s) kept while the database was unreachable; the next holder of their chains tells their contacts",
                owed.len()
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("the local file is kept for the next start: {e}"),
        }
    }
}
