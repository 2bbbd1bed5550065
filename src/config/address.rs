//! One network address as the configuration writes it: `HOST[:PORT]`, an IPv6 address in
//! brackets (`[::1]:19999`).
//!
//! One job: split an address into host and port, with an error that says how to write it. What
//! surrounds the address in a key (`tcp:`/`udp:` before it, `=ACL` after it) and the default
//! port are the caller's. No I/O, no name resolution.

/// Split `addr` into its host and its port (`None` when it names none). `token` is the entry
/// as written, quoted in messages; `form` is how to write one, shown when the host is missing
/// (e.g. `HOST[:PORT]`).
pub fn split_host_port<'a>(addr: &'a str, token: &str, form: &str) -> Result<(&'a str, Option<u16>), String> {
    let (host, port) = if let Some(bracketed) = addr.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err(format!("'{token}' has no closing ] after the IPv6 address"));
        };
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(format!("'{token}' has '{after}' after ]; write [ADDRESS]:PORT")),
            },
        }
    } else {
        match addr.split_once(':') {
            Some((_, port)) if port.contains(':') => {
                return Err(format!(
                    "'{token}' looks like an IPv6 address; put it in brackets, e.g. [{addr}]"
                ))
            }
            Some((host, port)) => (host, Some(port)),
            None => (addr, None),
        }
    };
    if host.is_empty() {
        return Err(format!("'{token}' has no host; write {form}"));
    }
    let port = match port {
        None => None,
        Some(text) => Some(
            text.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("'{token}' has a bad port '{text}'; use a number from 1 to 65535"))?,
        ),
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::split_host_port;

    #[test]
    fn hosts_ports_and_bracketed_ipv6_addresses_split() {
        fn split(a: &str) -> Result<(&str, Option<u16>), String> {
            split_host_port(a, a, "HOST[:PORT]")
        }
        assert_eq!(split("h"), Ok(("h", None)));
        assert_eq!(split("h:2003"), Ok(("h", Some(2003))));
        assert_eq!(split("[::1]"), Ok(("::1", None)));
        assert_eq!(split("[fe80::1%eth0]:19999"), Ok(("fe80::1%eth0", Some(19999))));
        assert_eq!(split("*:80"), Ok(("*", Some(80))));
    }

    #[test]
    fn each_malformed_address_says_how_to_write_it() {
        let split = |a: &str| split_host_port(a, a, "HOST[:PORT]").unwrap_err();
        assert_eq!(split("[::1"), "'[::1' has no closing ] after the IPv6 address");
        assert_eq!(split("[::1]x"), "'[::1]x' has 'x' after ]; write [ADDRESS]:PORT");
        assert_eq!(split("::1"), "'::1' looks like an IPv6 address; put it in brackets, e.g. [::1]");
        assert_eq!(split(":80"), "':80' has no host; write HOST[:PORT]");
        assert_eq!(split("h:0"), "'h:0' has a bad port '0'; use a number from 1 to 65535");
        assert_eq!(split("h:65536"), "'h:65536' has a bad port '65536'; use a number from 1 to 65535");
    }
}
