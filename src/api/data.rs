//! `/api/v1/data`.

use std::sync::Arc;

use super::{Api, Request, Response};
use crate::rrd::Host;

/// Answer `/api/v1/data`.
pub fn serve(_api: &Api, _host: &Arc<Host>, _req: &Request<'_>) -> Response {
    Response::not_found("data: to be written")
}
