//! Sending a call and reading a listing, the same way for every service: a slot of
//! the width held while a call is in flight, its error classified, every page of a
//! listing read until the service gives no next token; and one client per region.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use chrono::{DateTime, TimeZone, Utc};

use super::width::Width;
use super::{CallError, classify};
use crate::model::Region;

/// Sends `request` (an SDK `send()` future, which does nothing until awaited), within
/// `width` when given: it waits for a slot first and holds it until the answer.
pub async fn send<T, E, R>(
    width: Option<&Width>,
    request: impl Future<Output = Result<T, SdkError<E, R>>>,
) -> Result<T, CallError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + 'static,
{
    let _slot = match width {
        Some(w) => Some(w.acquire().await),
        None => None,
    };
    request.await.map_err(classify)
}

/// Every page of a listing, in order: `page` is called with the token of the next page
/// (none for the first) and answers with its items and the token after it; an absent
/// or empty token ends the listing.
pub async fn all_pages<T, E, F, Fut>(mut page: F) -> Result<Vec<T>, E>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), E>>,
{
    let mut out = Vec::new();
    let mut next = None;
    loop {
        let (items, token) = page(next).await?;
        out.extend(items);
        match token.filter(|t| !t.is_empty()) {
            Some(t) => next = Some(t),
            None => return Ok(out),
        }
    }
}

/// One client of a service per region, made on first use.
#[derive(Debug)]
pub struct Clients<C> {
    clients: Mutex<HashMap<Region, C>>,
}

impl<C> Default for Clients<C> {
    fn default() -> Self {
        Self {
            clients: Mutex::new(HashMap::new()),
        }
    }
}

impl<C: Clone> Clients<C> {
    /// The client of `region`, made by `make` the first time.
    pub fn get(&self, region: &Region, make: impl FnOnce(aws_config::Region) -> C) -> C {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(region.clone())
            .or_insert_with(|| make(sdk_region(region)))
            .clone()
    }
}

/// The SDK's name of `region`.
pub fn sdk_region(region: &Region) -> aws_config::Region {
    aws_config::Region::new(region.as_str().to_owned())
}

/// An instant as the SDK gives it; none when chrono cannot hold it.
pub fn instant(t: &aws_sdk_ecr::primitives::DateTime) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(t.secs(), t.subsec_nanos()).single()
}
