//! A deployment at run time: the manifest, a connection to each of its chains, its signers and
//! its journal. Every command that reads a manifest starts here.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use alloy::primitives::Address;

use crate::{
    chain::{ChainClient, ChainError, SendRoute, Signer, SignerError, signer::EnvLookup},
    config::{ConfigError, ContractConfig, DATABASE_URL_VAR, Manifest},
    storage::{Location, StorageError, Store},
};

/// Why a deployment could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    /// The manifest is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The journal could not be opened.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A signer that is a Safe multisig: its actions are proposals for its owners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeSigner {
    /// Its name in the manifest.
    pub name: String,
    /// The Safe on each chain of the manifest where it has one.
    pub addresses: BTreeMap<String, alloy::primitives::Address>,
    /// The batch library its proposals may DELEGATECALL.
    pub multisend: alloy::primitives::Address,
    /// The key signer that signs each proposal as it is made and shares it with the Safe
    /// Transaction Service.
    pub proposer: Option<String>,
}

impl SafeSigner {
    /// The Safe on `chain`.
    pub fn at(&self, chain: &str) -> Option<alloy::primitives::Address> {
        self.addresses.get(chain).copied()
    }
}

/// The manifest with live connections.
pub struct Deployment {
    /// The manifest.
    pub manifest: Manifest,
    /// Where it was read from.
    pub path: PathBuf,
    /// Connected chains by name.
    pub clients: BTreeMap<String, ChainClient>,
    /// Chains that could not be reached (or serve the wrong chain id), with why.
    pub unreachable: BTreeMap<String, ChainError>,
    /// Every configured signer whose key loaded, in name order.
    pub signers: Vec<Signer>,
    /// Configured signers whose key could not be loaded (a missing variable, say), with why.
    /// Commands fail only if they need one of these: an on-call engineer holding one key can
    /// act without every other key of the team.
    pub unloaded: Vec<(String, SignerError)>,
    /// Configured signers that are Safe multisigs (`safe = "0x…"`), in name order.
    pub safes: Vec<SafeSigner>,
    /// The journal beside the manifest.
    pub store: Store,
    /// Why `store` is the local offline journal instead of the configured PostgreSQL database
    /// (it was unreachable, and the command is the emergency pause, which never waits for it).
    pub offline: Option<String>,
    /// The hold on that journal while this command writes in it.
    _offline_lock: Option<OfflineLock>,
}

/// The journal's path for a manifest: `guardian.db` in the same directory.
pub fn db_path(manifest: &Path) -> PathBuf {
    manifest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("guardian.db")
}

/// Where a deployment's records are: the PostgreSQL database `GUARDIAN_DATABASE_URL` names,
/// else the manifest's `[storage] url`, else `guardian.db` beside the manifest.
pub fn store_location(
    manifest_path: &Path,
    manifest: Option<&Manifest>,
    env: EnvLookup<'_>,
) -> Location {
    if let Some(url) = env(DATABASE_URL_VAR).filter(|u| !u.trim().is_empty()) {
        return Location::Url(crate::secret::Secret::new(url));
    }
    match manifest.and_then(|m| m.storage.url.as_ref()) {
        Some(url) => Location::Url(url.secret().clone()),
        None => Location::File(db_path(manifest_path)),
    }
}

/// The journal a command keeps beside the manifest while its PostgreSQL database is
/// unreachable (the emergency pause only), absorbed by the database once it is back.
pub fn offline_path(manifest: &Path) -> PathBuf {
    db_path(manifest).with_file_name("guardian-offline.db")
}

/// The local file `guardian monitor` instance `instance` follows the chains on while its
/// PostgreSQL database is unreachable (`[ha]`), beside the manifest.
pub fn monitor_offline_path(manifest: &Path, instance: &str) -> PathBuf {
    let name: String = instance
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    db_path(manifest).with_file_name(format!("{MONITOR_OFFLINE_PREFIX}{name}.db"))
}

const MONITOR_OFFLINE_PREFIX: &str = "guardian-offline-monitor-";

/// An exclusive hold on a local offline file (a lock on `<file>.lock`): while a process holds
/// it, no other absorbs the file or sets it aside.
pub struct OfflineLock {
    _file: std::fs::File,
}

/// Takes the hold on `path` to absorb it; `None` while any process writes in it.
pub fn lock_offline(path: &Path) -> std::io::Result<Option<OfflineLock>> {
    hold(path, true)
}

/// Takes a writer's hold on `path` (several writers may hold it at once, and keep an absorber
/// out); `None` while it is being absorbed.
pub fn hold_offline(path: &Path) -> std::io::Result<Option<OfflineLock>> {
    hold(path, false)
}

fn hold(path: &Path, exclusive: bool) -> std::io::Result<Option<OfflineLock>> {
    let mut lock = path.as_os_str().to_owned();
    lock.push(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock)?;
    let held = if exclusive {
        file.try_lock()
    } else {
        file.try_lock_shared()
    };
    match held {
        Ok(()) => Ok(Some(OfflineLock { _file: file })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Writes into `store` what monitors that are no longer running kept on their local files
/// beside the manifest (any but `except`, which this process holds) and sets those files aside.
/// The ids of the alerts new to the database, still to be dispatched.
pub fn absorb_monitor_files(
    store: &Store,
    manifest: &Path,
    except: Option<&Path>,
) -> Result<Vec<i64>, StorageError> {
    let dir = db_path(manifest)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut alerts = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.starts_with(MONITOR_OFFLINE_PREFIX)
            || !name.ends_with(".db")
            || except.is_some_and(|e| e == path)
        {
            continue;
        }
        // A running monitor's file is its own to write in.
        let Ok(Some(_held)) = lock_offline(&path) else {
            continue;
        };
        let local = Store::open(&path)?;
        alerts.extend(store.absorb_offline(&local)?.alerts);
        drop(local);
        set_aside(&path);
    }
    Ok(alerts)
}

/// Renames a local offline file (with its `-wal` and `-shm`) to `<file>.synced-<unix ms>`.
fn set_aside(path: &Path) {
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".synced-{}", crate::storage::now_ms()));
    for suffix in ["", "-wal", "-shm"] {
        let mut from = path.as_os_str().to_owned();
        from.push(suffix);
        let mut to = aside.clone();
        to.push(suffix);
        if Path::new(&from).exists() {
            let _ = std::fs::rename(&from, &to);
        }
    }
}

/// Opens the database at `location`; with `offline_ok`, a PostgreSQL server that cannot be
/// reached gives the local offline journal instead, with why. Where the server is reachable and
/// an offline journal waits beside the manifest, it is absorbed first (and set aside, renamed).
pub fn open_store(
    manifest_path: &Path,
    location: &Location,
    offline_ok: bool,
) -> Result<(Store, Option<String>, Option<OfflineLock>), StorageError> {
    let offline = offline_path(manifest_path);
    // The emergency pause waits one second for the database, not five.
    let opened = match (location, offline_ok) {
        (Location::Url(url), true) => {
            Store::connect_within(url.expose(), Some(std::time::Duration::from_secs(1)))
        }
        _ => Store::open_at(location),
    };
    match opened {
        Ok(store) => {
            if matches!(location, Location::Url(_)) && offline.exists() {
                let absorbed = sync_offline(&store, &offline)?;
                eprintln!(
                    "synced {absorbed} action(s) journalled in {} while the database was unreachable",
                    offline.display()
                );
            }
            Ok((store, None, None))
        }
        Err(StorageError::Connect { target, message }) if offline_ok => {
            let why = format!(
                "PostgreSQL at {target} is unreachable ({message}): this action is journalled in {} and written to the database by `guardian db sync` (or the next command) once it is back",
                offline.display()
            );
            // Held while the command runs: the journal is not absorbed under a pause.
            let held = hold_offline(&offline).ok().flatten();
            Ok((Store::open(&offline)?, Some(why), held))
        }
        Err(e) => Err(e),
    }
}

/// Absorbs the offline journal at `path` into `store` and sets the file aside
/// (`…synced-<unix ms>`), so it is never absorbed twice; a file another process is writing in
/// (a pause still running) is left for later. The number of actions absorbed.
pub fn sync_offline(store: &Store, path: &Path) -> Result<usize, StorageError> {
    let Some(_held) = lock_offline(path).map_err(|e| StorageError::Open {
        path: path.display().to_string(),
        source: rusqlite::Error::InvalidPath(e.to_string().into()),
    })?
    else {
        return Ok(0);
    };
    let local = Store::open(path)?;
    let absorbed = store.absorb_offline(&local)?.actions;
    drop(local);
    set_aside(path);
    Ok(absorbed)
}

impl Deployment {
    /// Loads the manifest and its signers, opens the journal and connects to the chains named in
    /// `chains` (all when `None`) concurrently. Unreachable chains are recorded, not fatal.
    pub async fn open(
        path: &Path,
        chains: Option<&[String]>,
        env: EnvLookup<'_>,
    ) -> Result<Self, DeploymentError> {
        Self::open_with(path, chains, env, false).await
    }

    /// As [`Deployment::open`]; with `offline_ok` (the emergency pause), a PostgreSQL database
    /// that cannot be reached gives the local offline journal instead of an error.
    pub async fn open_with(
        path: &Path,
        chains: Option<&[String]>,
        env: EnvLookup<'_>,
        offline_ok: bool,
    ) -> Result<Self, DeploymentError> {
        let manifest = Manifest::load_with_env(path, env)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut signers = Vec::new();
        let mut unloaded = Vec::new();
        let mut safes = Vec::new();
        for (name, cfg) in &manifest.signers {
            if let Some((address, multisend)) = cfg.as_safe() {
                safes.push(SafeSigner {
                    name: name.clone(),
                    addresses: manifest
                        .chains
                        .keys()
                        .filter_map(|c| address.on(c).map(|a| (c.clone(), *a)))
                        .collect(),
                    multisend,
                    proposer: cfg.proposer.clone(),
                });
                continue;
            }
            match Signer::load(name, cfg, base, env) {
                Ok(s) => signers.push(s),
                Err(e) => unloaded.push((name.clone(), e)),
            }
        }
        let (store, offline, offline_lock) = open_store(
            path,
            &store_location(path, Some(&manifest), env),
            offline_ok,
        )?;
        let wanted: Vec<(&String, _)> = manifest
            .chains
            .iter()
            .filter(|(name, _)| chains.is_none_or(|c| c.contains(name)))
            .collect();
        let results = futures::future::join_all(wanted.iter().map(|(name, cfg)| async {
            let route =
                SendRoute::from_config(cfg, &manifest.rpc).map_err(|e| ChainError::Rpc {
                    chain: name.to_string(),
                    source: alloy::transports::TransportErrorKind::custom_str(&e),
                })?;
            ChainClient::connect(name, &cfg.rpc_urls, Some(cfg.chain_id), &manifest.rpc)
                .await
                .map(|c| c.with_route(route))
        }))
        .await;
        let mut clients = BTreeMap::new();
        let mut unreachable = BTreeMap::new();
        for ((name, _), result) in wanted.into_iter().zip(results) {
            match result {
                Ok(client) => {
                    clients.insert(name.clone(), client);
                }
                Err(e) => {
                    unreachable.insert(name.clone(), e);
                }
            }
        }
        Ok(Self {
            manifest,
            path: path.to_path_buf(),
            clients,
            unreachable,
            signers,
            unloaded,
            safes,
            store,
            offline,
            _offline_lock: offline_lock,
        })
    }

    /// The same deployment (manifest, chains, signers) with its records in `store`: what a
    /// monitor answers alerts with while its database is unreachable (`why`).
    pub fn twin_on(&self, store: Store, why: String) -> Deployment {
        Deployment {
            manifest: self.manifest.clone(),
            path: self.path.clone(),
            clients: self.clients.clone(),
            unreachable: BTreeMap::new(),
            signers: self.signers.clone(),
            unloaded: Vec::new(),
            safes: self.safes.clone(),
            store,
            offline: Some(why),
            _offline_lock: None,
        }
    }

    /// The signer with this name; if its key did not load, why.
    pub fn signer(&self, name: &str) -> Result<&Signer, SignerError> {
        if let Some((_, e)) = self.unloaded.iter().find(|(n, _)| n == name) {
            return Err(e.clone());
        }
        self.signers
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| SignerError::Unknown(name.to_string()))
    }

    /// The signer whose address is `address`, if configured.
    pub fn signer_for(&self, address: Address) -> Option<&Signer> {
        self.signers.iter().find(|s| s.address() == address)
    }

    /// The contracts on reachable chains.
    pub fn reachable_contracts(&self) -> impl Iterator<Item = (&ContractConfig, &ChainClient)> {
        self.manifest
            .contracts
            .iter()
            .filter_map(|c| self.clients.get(c.chain()).map(|client| (c, client)))
    }
}
