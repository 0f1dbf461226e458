//! Persistence of engine snapshots.
//!
//! [`JsonFileStore`] keeps one file per bot, `<dir>/<bot>.json`, written
//! atomically: the new state goes to a temporary file in the same
//! directory, is flushed to disk (`fsync`), renamed over the old file, and
//! the directory is synced, so a crash leaves either the old or the new
//! state, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use martingale_core::engine::BotId;

/// Where engine snapshots live.
pub trait StateStore: Send + Sync {
    /// The last saved state of `bot`, if any.
    fn load(&self, bot: &BotId) -> io::Result<Option<String>>;
    /// Saves the state of `bot`, replacing the previous one atomically.
    fn save(&self, bot: &BotId, state: &str) -> io::Result<()>;
}

/// One JSON file per bot in a directory.
///
/// ```
/// use martingale_exchange::{JsonFileStore, StateStore};
/// use martingale_core::engine::BotId;
/// let dir = tempfile::tempdir().unwrap();
/// let store = JsonFileStore::new(dir.path()).unwrap();
/// let bot = BotId::new("b1").unwrap();
/// assert_eq!(store.load(&bot).unwrap(), None);
/// store.save(&bot, "{\"v\":1}").unwrap();
/// assert_eq!(store.load(&bot).unwrap().as_deref(), Some("{\"v\":1}"));
/// ```
#[derive(Debug, Clone)]
pub struct JsonFileStore {
    dir: PathBuf,
    sync: bool,
}

impl JsonFileStore {
    /// A store in `dir` (created if missing).
    pub fn new(dir: impl AsRef<Path>) -> io::Result<JsonFileStore> {
        fs::create_dir_all(dir.as_ref())?;
        Ok(JsonFileStore { dir: dir.as_ref().to_path_buf(), sync: true })
    }

    /// A store that still replaces files atomically (a killed process
    /// leaves the old or the new state) but skips `fsync`, so a power loss
    /// may lose the last states: for paper trading and simulations, where
    /// the fsync per change would dominate the run time.
    pub fn without_sync(dir: impl AsRef<Path>) -> io::Result<JsonFileStore> {
        Ok(JsonFileStore { sync: false, ..JsonFileStore::new(dir)? })
    }

    fn path(&self, bot: &BotId) -> PathBuf {
        // Bot ids are [A-Za-z0-9_-]{1,15}: safe as file names.
        self.dir.join(format!("{}.json", bot.as_str()))
    }
}

impl StateStore for JsonFileStore {
    fn load(&self, bot: &BotId) -> io::Result<Option<String>> {
        match fs::read_to_string(self.path(bot)) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn save(&self, bot: &BotId, state: &str) -> io::Result<()> {
        let path = self.path(bot);
        let tmp = self.dir.join(format!(".{}.json.tmp", bot.as_str()));
        {
            let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
            f.write_all(state.as_bytes())?;
            if self.sync {
                f.sync_all()?;
            }
        }
        fs::rename(&tmp, &path)?;
        // Make the rename itself durable.
        if self.sync {
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_replaces_atomically_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = JsonFileStore::new(dir.path().join("states")).unwrap();
        let bot = BotId::new("bot-1").unwrap();
        for i in 0..20 {
            store.save(&bot, &format!("{{\"n\":{i}}}")).unwrap();
        }
        assert_eq!(store.load(&bot).unwrap().as_deref(), Some("{\"n\":19}"));
        let names: Vec<_> = fs::read_dir(dir.path().join("states")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("bot-1.json")]);
    }
}
