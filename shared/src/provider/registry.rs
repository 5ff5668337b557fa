//! The providers a deployment can render with, by id.

use super::VideoProvider;
use crate::deadline::Deadline;
use crate::domain::ProviderId;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One adapter per provider this deployment has a key (or, locally, a simulator) for.
#[derive(Clone, Default)]
pub struct Providers {
    by_id: BTreeMap<ProviderId, Arc<dyn VideoProvider>>,
}

impl Providers {
    pub fn new() -> Providers {
        Providers::default()
    }

    /// These providers plus `provider` for `id` (replacing one already there).
    pub fn with(mut self, id: ProviderId, provider: Arc<dyn VideoProvider>) -> Providers {
        self.by_id.insert(id, provider);
        self
    }

    /// A single provider; handy for tests and one-provider deployments.
    pub fn only(id: ProviderId, provider: Arc<dyn VideoProvider>) -> Providers {
        Providers::new().with(id, provider)
    }

    pub fn get(&self, id: ProviderId) -> Option<&Arc<dyn VideoProvider>> {
        self.by_id.get(&id)
    }

    /// Every provider with its calls ending by `deadline`.
    pub fn with_deadline(&self, deadline: Deadline) -> Providers {
        Providers {
            by_id: self
                .by_id
                .iter()
                .map(|(id, p)| (*id, p.with_deadline(deadline)))
                .collect(),
        }
    }
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_id.keys()).finish()
    }
}
