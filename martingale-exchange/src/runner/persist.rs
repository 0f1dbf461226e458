//! Writing the runner's state and audit trail: the state after every
//! change (before its orders are sent), the audit records to the
//! [`AuditLog`](crate::AuditLog) file and, when the store keeps the audit
//! trail itself ([`StateStore::keeps_audit`](crate::StateStore::keeps_audit)),
//! in the same atomic write as the state.

use martingale_core::engine::TimeMs;

use super::{Runner, RunnerError};
use crate::audit::{AuditEntry, AuditRecord};
use crate::exchange::Exchange;
use crate::snapshot::Persisted;

impl<E: Exchange + ?Sized> Runner<E> {
    pub(super) async fn persist(&self) -> Result<(), RunnerError> {
        let text = Persisted::to_text(&self.engine, self.events, self.last_time)
            .map_err(|e| RunnerError::Invalid(e.to_string()))?;
        let Some(journal) = &self.journal else {
            return Ok(self.store.save(self.engine.bot_id(), &text).await?);
        };
        let poisoned = || RunnerError::Invalid("audit journal lock poisoned".into());
        let records = std::mem::take(&mut *journal.lock().map_err(|_| poisoned())?);
        match self.store.save_with_audit(self.engine.bot_id(), &text, &records).await {
            Ok(()) => Ok(()),
            Err(e) => {
                // Not written: kept for the next save, in order.
                let mut j = journal.lock().map_err(|_| poisoned())?;
                let later = std::mem::replace(&mut *j, records);
                j.extend(later);
                Err(e.into())
            }
        }
    }

    pub(super) fn audit_entry(&self, time: TimeMs, entry: AuditEntry) -> Result<(), RunnerError> {
        if self.audit.is_none() && self.journal.is_none() {
            return Ok(());
        }
        let record = AuditRecord::new(time, self.cfg.account.clone(), self.engine.bot_id().clone(), entry);
        if let Some(log) = &self.audit {
            log.append(&record)?;
        }
        if let Some(journal) = &self.journal {
            journal.lock().map_err(|_| RunnerError::Invalid("audit journal lock poisoned".into()))?.push(record);
        }
        Ok(())
    }

    pub(super) fn note(&self, time: TimeMs, text: &str) -> Result<(), RunnerError> {
        tracing::info!(bot = %self.engine.bot_id(), account = %self.cfg.account, time, "{text}");
        self.audit_entry(time, AuditEntry::Note { text: text.to_string() })
    }
}
