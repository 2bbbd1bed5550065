//! `/api/v1/info`, `/api/v1/alarms`, `/api/v1/alarm_log`.

use std::sync::Arc;

use super::{Api, Request, Response};
use crate::rrd::Host;

/// Answer `/api/v1/info`.
pub fn serve_info(_api: &Api, _host: &Arc<Host>, _req: &Request<'_>) -> Response {
    Response::not_found("info: to be written")
}

/// Answer `/api/v1/alarms`.
pub fn serve_alarms(_api: &Api, _host: &Arc<Host>, _req: &Request<'_>) -> Response {
    Response::not_found("alarms: to be written")
}

/// Answer `/api/v1/alarm_log`.
pub fn serve_alarm_log(_api: &Api, _host: &Arc<Host>, _req: &Request<'_>) -> Response {
    Response::not_found("alarm_log: to be written")
}
