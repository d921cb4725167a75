//! The EasyVista client: one per connection, cheap to clone, implementing the ticketing and
//! entity ports. It holds no secret in anything it can print.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use ta_domain::{ExternalReference, TicketDraft, TicketNumber};
use ta_ports::{
    EntityQuery, EntitySource, FollowReport, FollowRequest, OpenedTicket, PageStream, RawPage,
    RawPageStream, RecordStream, TicketingBackend, TicketingError,
};
use tracing::{debug, warn};
use url::Url;

use crate::config::{EasyVistaConfig, api_root, authorization, http_client};
use crate::error::{EasyVistaError, entity_error};
use crate::records::stream_records;
use crate::transport::{Cost, Transport};

/// A connection to one EasyVista account. Clones share the HTTP connection pool.
#[derive(Clone)]
pub struct EasyVistaClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) transport: Arc<Transport>,
    pub(crate) config: EasyVistaConfig,
    /// Status GUIDs already reported as in no configured set, so each is logged once.
    unknown_statuses: Mutex<HashSet<String>>,
    /// Filters already reported as ignored by the server, so each is logged once.
    ignored_filters: Mutex<HashSet<&'static str>>,
}

impl fmt::Debug for EasyVistaClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EasyVistaClient")
            .field("api_root", &self.api_root().as_str())
            .finish_non_exhaustive()
    }
}

impl EasyVistaClient {
    /// Checks the settings (URL, TLS rules, credentials, CA bundle) and builds the client. No
    /// request is sent; [`TicketingBackend::check_connection`] does that.
    pub fn new(config: EasyVistaConfig) -> Result<EasyVistaClient, EasyVistaError> {
        let root = api_root(&config)?;
        let authorization = authorization(&config.credentials)?;
        let http = http_client(&config, &root)?;
        if config.page_size == 0 {
            return Err(EasyVistaError::config("PageSize", Some("0"), "must be at least 1"));
        }
        let transport = Arc::new(Transport::new(http, root, authorization, config.read_retries));
        let inner = Inner {
            transport,
            config,
            unknown_statuses: Mutex::new(HashSet::new()),
            ignored_filters: Mutex::new(HashSet::new()),
        };
        Ok(EasyVistaClient { inner: Arc::new(inner) })
    }

    /// `https://{host}/api/v1/{account}/`.
    pub fn api_root(&self) -> &Url {
        self.inner.transport.root()
    }

    /// Every HTTP request this client (and its clones) sent so far.
    pub fn requests_sent(&self) -> u64 {
        self.inner.transport.requests_sent()
    }

    /// Streams the records of a list resource or saved view with this client's error type.
    pub fn stream(
        &self,
        query: &EntityQuery,
    ) -> Result<
        impl futures::Stream<Item = Result<crate::records::Record, EasyVistaError>> + Send + 'static,
        EasyVistaError,
    > {
        let url = self.query_url(query)?;
        let page_size = self.page_size(query);
        let since = updated_since(query)?;
        let records =
            stream_records(self.inner.transport.clone(), Arc::new(Cost::default()), url, page_size);
        // The server may ignore the range filter: check it here too.
        Ok(records.filter(move |item| {
            let keep = match item {
                Ok(record) => is_recent(record, since),
                Err(_) => true,
            };
            futures::future::ready(keep)
        }))
    }

    /// The records of a list resource or saved view a page at a time, the next page read while
    /// this one is handled; records older than `updated_since` are left out as by
    /// [`EasyVistaClient::stream`].
    pub fn stream_pages(
        &self,
        query: &EntityQuery,
    ) -> Result<
        impl futures::Stream<Item = Result<Vec<crate::records::Record>, EasyVistaError>>
        + Send
        + 'static,
        EasyVistaError,
    > {
        let url = self.query_url(query)?;
        let page_size = self.page_size(query);
        let since = updated_since(query)?;
        let pages = crate::records::stream_pages(
            self.inner.transport.clone(),
            Arc::new(Cost::default()),
            url,
            page_size,
        );
        // The server may ignore the range filter: check it here too.
        Ok(crate::records::read_ahead(pages).map(move |page| {
            let mut records = page?;
            records.retain(|record| is_recent(record, since));
            Ok(records)
        }))
    }

    /// The pages of [`EasyVistaClient::stream_pages`] as JSON text, the next page read while
    /// this one is handled. Records older than `updated_since` are not left out here: finding
    /// them would mean parsing every record, which is what the reader of raw pages does anyway.
    pub fn stream_raw_pages(
        &self,
        query: &EntityQuery,
    ) -> Result<
        impl futures::Stream<Item = Result<RawPage, EasyVistaError>> + Send + 'static,
        EasyVistaError,
    > {
        let url = self.query_url(query)?;
        let page_size = self.page_size(query);
        let pages = crate::records::stream_raw_pages(
            self.inner.transport.clone(),
            Arc::new(Cost::default()),
            url,
            page_size,
        );
        Ok(crate::records::read_ahead(pages))
    }

    /// The query's page size, or the connection's when the query leaves it to the source.
    fn page_size(&self, query: &EntityQuery) -> usize {
        if query.page_size == 0 { self.inner.config.page_size } else { query.page_size }
    }

    fn query_url(&self, query: &EntityQuery) -> Result<Url, EasyVistaError> {
        let mut url = self.inner.transport.resource_url(&query.resource)?;
        {
            let mut pairs = url.query_pairs_mut();
            if !query.fields.is_empty() {
                pairs.append_pair("fields", &query.fields.join(","));
            }
            if let Some(stamp) = updated_since(query)? {
                pairs.append_pair(
                    "search",
                    &format!("last_update:({};)", crate::follow::format_stamp(stamp)),
                );
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        Ok(url)
    }

    /// Notes a status that is in no configured set; true the first time it is seen.
    pub(crate) fn first_unknown_status(&self, guid: &str) -> bool {
        self.inner
            .unknown_statuses
            .lock()
            .map(|mut seen| seen.insert(guid.to_ascii_uppercase()))
            .unwrap_or(false)
    }

    /// Warns once per filter that the server ignored it.
    pub(crate) fn filter_ignored(&self, filter: &'static str) {
        let first =
            self.inner.ignored_filters.lock().map(|mut seen| seen.insert(filter)).unwrap_or(false);
        if first {
            warn!(connection = %self.api_root(), filter, "the server ignored a search filter; results are checked here and read another way");
        }
    }
}

#[async_trait]
impl TicketingBackend for EasyVistaClient {
    async fn open_ticket(&self, draft: &TicketDraft) -> Result<OpenedTicket, TicketingError> {
        Ok(self.create_ticket(draft).await?)
    }

    async fn find_by_external_reference(
        &self,
        reference: &ExternalReference,
    ) -> Result<Option<TicketNumber>, TicketingError> {
        Ok(self.find_reference(reference, &Cost::default()).await?)
    }

    async fn follow(&self, request: &FollowRequest) -> Result<FollowReport, TicketingError> {
        Ok(self.follow_tickets(request).await?)
    }

    async fn check_connection(&self) -> Result<String, TicketingError> {
        let mut url = self.inner.transport.resource_url("requests")?;
        url.query_pairs_mut().append_pair("max_rows", "1").append_pair("fields", "rfc_number");
        let body = self.inner.transport.get(&url, &Cost::default()).await?;
        let page = crate::records::parse_page(body, url.path())?;
        let total = page
            .total
            .map(|t| format!("{t} tickets"))
            .unwrap_or_else(|| "tickets readable".to_owned());
        debug!(connection = %self.api_root(), "connection checked");
        Ok(format!("EasyVista at {} ({total})", self.api_root()))
    }
}

impl EntitySource for EasyVistaClient {
    fn records(&self, query: EntityQuery) -> RecordStream {
        entity_stream(&query.resource, self.stream(&query))
    }

    fn pages(&self, query: EntityQuery) -> PageStream {
        entity_stream(&query.resource, self.stream_pages(&query))
    }

    fn raw_pages(&self, query: EntityQuery) -> RawPageStream {
        entity_stream(&query.resource, self.stream_raw_pages(&query))
    }
}

/// The query's `updated_since`, read as a timestamp with an offset.
fn updated_since(query: &EntityQuery) -> Result<Option<crate::follow::Stamp>, EasyVistaError> {
    query
        .updated_since
        .as_deref()
        .map(|text| {
            crate::follow::parse_stamp(text).ok_or_else(|| {
                EasyVistaError::config(
                    "updated_since",
                    Some(text),
                    "not a timestamp with an offset",
                )
            })
        })
        .transpose()
}

/// Whether a record was updated at or after `since`: the server may ignore the range filter, so
/// it is checked here too. A record without a readable LAST_UPDATE is kept.
fn is_recent(record: &crate::records::Record, since: Option<crate::follow::Stamp>) -> bool {
    since.is_none_or(|since| {
        crate::records::text_field(record, "last_update")
            .and_then(crate::follow::parse_stamp)
            .is_none_or(|updated| updated >= since)
    })
}

/// A stream of the port's shape: items as they come, errors named after the resource read; a
/// query that cannot even start is a stream of that one error.
fn entity_stream<T, S>(
    resource: &str,
    opened: Result<S, EasyVistaError>,
) -> futures::stream::BoxStream<'static, Result<T, ta_ports::EntityError>>
where
    T: Send + 'static,
    S: futures::Stream<Item = Result<T, EasyVistaError>> + Send + 'static,
{
    let resource = resource.to_owned();
    match opened {
        Ok(items) => items.map(move |item| item.map_err(|e| entity_error(&resource, e))).boxed(),
        Err(error) => {
            futures::stream::once(futures::future::ready(Err(entity_error(&resource, error))))
                .boxed()
        }
    }
}
