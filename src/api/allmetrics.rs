//! `/api/v1/allmetrics`.

use std::sync::Arc;

use super::{Api, Request, Response};
use crate::rrd::Host;

/// Each scraper's last window, per host.
#[derive(Debug, Default)]
pub struct Scrapers {}

/// Answer `/api/v1/allmetrics`.
pub fn serve(_api: &Api, _host: &Arc<Host>, _req: &Request<'_>) -> Response {
    Response::not_found("allmetrics: to be written")
}
