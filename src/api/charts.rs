//! `/api/v1/charts`, `/api/v1/chart`.

use std::sync::Arc;

use super::{Api, Request, Response};
use crate::rrd::Host;

/// Answer `/api/v1/charts`.
pub fn serve_charts(_api: &Api, _host: &Arc<Host>, _req: &Request<'_>) -> Response {
    Response::not_found("charts: to be written")
}

/// Answer `/api/v1/chart`.
pub fn serve_chart(_api: &Api, _host: &Arc<Host>, _req: &Request<'_>) -> Response {
    Response::not_found("chart: to be written")
}
