//! Host names for the API's webhook sender that the test controls: the harness gives every
//! test an empty table, so no test resolves a name through real DNS (a fuzzed webhook URL
//! included), and a test that needs names points them where it likes, at any time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use vodnest_api::webhooks::targets::{HostLookup, Lookup};

#[derive(Clone, Default)]
pub struct TestHosts(Arc<Mutex<HashMap<String, IpAddr>>>);

impl TestHosts {
    /// Points `host` at `ip` (from now on, also for an app already running).
    pub fn set(&self, host: &str, ip: &str) -> anyhow::Result<()> {
        let ip = ip.parse()?;
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(host.to_owned(), ip);
        Ok(())
    }
}

impl HostLookup for TestHosts {
    fn lookup<'a>(&'a self, host: &'a str) -> Lookup<'a> {
        let found = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(host)
            .copied();
        Box::pin(async move {
            found.map(|ip| vec![ip]).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "not in the test's table")
            })
        })
    }
}
