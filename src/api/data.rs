//! `/api/v1/data`: a chart's values over time, grouped into points, in netdata's formats.
//!
//! One job: answer one request from one chart. The pipeline reads top to bottom in [`serve`]:
//! parse the parameters ([`request`]), find the chart, decide the points ([`window`]), read
//! and group the slots under the chart's read lock ([`query`], with the `dimensions`
//! [`pattern`]), release the lock, and write the bytes ([`format`]).
//!
//! Compatibility: netdata 1.37.1's shapes, spaces, number printing and window rules, checked
//! against the running netdata on the same plugin. Differences, all deliberate: names are
//! escaped wherever netdata writes them raw (every answer parses); a word netdata would
//! silently replace by a default (an unknown `format`, `group` or option, a non-numeric
//! `after`) is a 400 naming the parameter; empty points do not count as 0 in `min`/`max`, and
//! with `percentage` those are over every value shown (netdata keeps only its last row's).
//! Not computed: netdata's other groupings (`percentile*`, `trimmed-mean*`, `trimmed-median*`,
//! `cv`, `ses`, `des`, `countif`) and the options `anomaly-bit`, `jw-anomaly-rates`, `raw` and
//! `all-dimensions`, each refused with a 400 that names it; `context=` queries (a chart is
//! required).

pub mod format;
pub mod pattern;
pub mod query;
pub mod request;
pub mod window;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use super::charts::find_chart;
use super::response::{JSON, TEXT};
use super::{Api, Request, Response};
use crate::rrd::Host;
use format::{Answer, Civil, Envelope};
use pattern::DimPattern;
use request::{opt, DataRequest, Format};
use window::{Stored, WindowRequest};

/// `application/x-javascript`: what netdata answers `jsonp` and `datasource` with.
pub const JAVASCRIPT: &str = "application/x-javascript; charset=utf-8";
/// `text/html`: the `html` format.
pub const HTML: &str = "text/html; charset=utf-8";

/// Answer `/api/v1/data`.
pub fn serve(_api: &Api, host: &Arc<Host>, req: &Request<'_>) -> Response {
    answer(host, req, &local_civil)
}

/// [`serve`] with the local time zone passed in.
pub fn answer(host: &Arc<Host>, req: &Request<'_>, local: &dyn Fn(i64) -> Civil) -> Response {
    let dr = match DataRequest::parse(&req.query) {
        Ok(dr) => dr,
        Err(why) => return Response::bad_request(&why),
    };
    let Some(chart) = find_chart(host, &dr.chart) else {
        return Response::not_found(&format!("Chart is not found: {}", dr.chart));
    };
    let now_s = req.now_ms.div_euclid(1000);
    let pattern = dr.dimensions.as_deref().and_then(DimPattern::new);

    // Under the chart's lock: the window, the dimensions and the points. Nothing else.
    let guard = chart.read();
    let ue = guard.update_every() as i64;
    let range = guard.first_entry_t().zip(guard.last_entry_t());
    let wreq = WindowRequest {
        after: dr.after,
        before: dr.before,
        points: dr.points,
        gtime: dr.gtime,
        options: dr.options,
    };
    let stored = Stored { range, update_every: ue, history: guard.history() };
    let win = window::window(wreq, stored, now_s);
    let dims = query::select_dims(&guard, pattern.as_ref(), dr.options);
    if dims.is_empty() {
        return Response::not_found(&format!(
            "No dimension of chart {} matches '{}'",
            dr.chart,
            dr.dimensions.as_deref().unwrap_or("")
        ));
    }
    let points = query::run(&guard, dims, &win, dr.group);
    let chart_name = guard.meta.name.to_string();
    let last_updated = guard
        .last_collected_ut()
        .map_or(range.map_or(0, |r| r.1), |ut| (ut / crate::clock::USEC_PER_SEC) as i64);
    drop(guard);

    let mut options = String::new();
    request::options_to_string(win.options, &mut options);
    let envelope = Envelope {
        id: query_id(&host.hostname(), &chart_name, &dr),
        view_update_every: win.step(),
        update_every: ue,
        first_entry: range.map_or(0, |r| r.0),
        last_entry: range.map_or(0, |r| r.1),
        before: win.before,
        after: win.first_point() - win.step() + win.granularity,
        group: dr.group,
        options,
    };
    let answer =
        Answer { points: &points, format: dr.format, options: dr.options, envelope: &envelope, local };
    let mut body = Vec::with_capacity(64 + points.rows() * (16 + 12 * points.dims.len()));
    let callback = |default: &str| dr.callback.clone().unwrap_or_else(|| default.to_string());
    match dr.format {
        Format::Jsonp => {
            body.extend_from_slice(callback("callback").as_bytes());
            body.push(b'(');
            format::write(&answer, &mut body);
            body.extend_from_slice(b");");
        }
        Format::Datasource => {
            let handler = callback("google.visualization.Query.setResponse");
            let g = &dr.google;
            let newest = points.times.last().copied().unwrap_or(0);
            if g.sig < newest {
                body.extend_from_slice(
                    format!(
                        "{handler}({{version:'{}',reqId:'{}',status:'ok',sig:'{last_updated}',table:",
                        g.version, g.req_id
                    )
                    .as_bytes(),
                );
                format::write(&answer, &mut body);
                body.extend_from_slice(b"});");
            } else {
                body.extend_from_slice(
                    format!(
                        "{handler}({{version:'{}',reqId:'{}',status:'error',errors:[{{reason:'not_modified',\
                         message:'Data not modified'}}]}});",
                        g.version, g.req_id
                    )
                    .as_bytes(),
                );
            }
        }
        _ => format::write(&answer, &mut body),
    }
    let wrapped = dr.options & opt::JSON_WRAP != 0;
    let content_type = match dr.format {
        Format::Jsonp | Format::Datasource => JAVASCRIPT,
        Format::Json | Format::Datatable | Format::Array | Format::CsvJsonArray => JSON,
        _ if wrapped => JSON,
        Format::Html => HTML,
        _ => TEXT,
    };
    let mut response = Response::ok(content_type, body);
    response.filename = dr.filename.filter(|f| !f.is_empty());
    response
}

/// netdata 1.37's query id, which its envelope prints as `id` and `name`.
fn query_id(hostname: &str, chart_name: &str, dr: &DataRequest) -> String {
    let mut options = String::new();
    request::options_to_string(dr.options, &mut options);
    let mut id = format!(
        "chart://host:{hostname}/instance:{chart_name}/dimensions:{}/after:{}/before:{}/points:{}/group:{}/options:{options}",
        dr.dimensions.as_deref().unwrap_or("*"),
        dr.after,
        dr.before,
        dr.points,
        dr.group.as_str(),
    );
    if dr.gtime > 1 {
        id.push_str(&format!("/resampling:{}", dr.gtime));
    }
    id
}

/// The local calendar time of `t` (seconds since the epoch), as the C library sees the zone.
pub fn local_civil(t: i64) -> Civil {
    // SAFETY: localtime_r writes only into `tm`, which lives on this stack frame; a zeroed tm
    // is a valid value of the type.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let time = t as libc::time_t;
    let ok = unsafe { !libc::localtime_r(&time, &mut tm).is_null() };
    if !ok {
        return Civil { year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0 };
    }
    Civil {
        year: tm.tm_year + 1900,
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
    }
}
