//! Which IP addresses are not the public internet. A `callback_url` must never reach
//! one in AWS: checked when a request names a literal address, and again on every
//! address a host name resolves to when the webhook is delivered.

use std::net::IpAddr;

/// Addresses a callback must never reach in AWS: every IANA special-purpose range that
/// is not the public internet (private, loopback, link-local — the instance metadata
/// service —, CGNAT, "this network", benchmarking, documentation, multicast, reserved,
/// unique-local). An IPv6 address that carries an IPv4 one (mapped, translated,
/// compatible, NAT64, 6to4) is judged by the IPv4 address it leads to.
pub fn is_private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => embedded_v4(v6).map_or_else(|| is_private_v6(v6), is_private_v4),
    }
}

fn is_private_v4(v4: std::net::Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    a == 0 // "this network" 0.0.0.0/8
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || (a == 169 && b == 254) // link-local
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && (c == 0 || c == 2)) // IETF protocol assignments, TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224 // multicast 224/4, reserved 240/4, broadcast
}

/// The IPv4 address an IPv6 address stands for, when it embeds one.
fn embedded_v4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        std::net::Ipv4Addr::new(a, b, c, d)
    };
    match s {
        // IPv4-compatible ::a.b.c.d (deprecated; also covers :: and ::1), IPv4-mapped
        // ::ffff:a.b.c.d, IPv4-translated ::ffff:0:a.b.c.d, NAT64 64:ff9b::a.b.c.d.
        [0, 0, 0, 0, 0, 0, hi, lo]
        | [0, 0, 0, 0, 0, 0xffff, hi, lo]
        | [0, 0, 0, 0, 0xffff, 0, hi, lo]
        | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        // 6to4 2002:aabb:ccdd::/48.
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        _ => None,
    }
}

fn is_private_v6(v6: std::net::Ipv6Addr) -> bool {
    let s = v6.segments();
    v6.is_unspecified()
        || v6.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site local (deprecated) fec0::/10
        || (s[0] & 0xff00) == 0xff00 // multicast ff00::/8
        || (s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments (Teredo, ORCHID…)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
        || (s[0] == 0x3fff && s[1] < 0x1000) // documentation 3fff::/20
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // discard 100::/64
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64 64:ff9b:1::/48
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_address_table() {
        use std::net::IpAddr;
        let cases: &[(&str, bool)] = &[
            // IPv4 special-purpose ranges.
            ("0.0.0.0", true),
            ("0.1.2.3", true),
            ("10.0.0.1", true),
            ("100.64.0.1", true),
            ("100.127.255.255", true),
            ("100.128.0.1", false),
            ("127.0.0.1", true),
            ("169.254.169.254", true),
            ("172.16.0.1", true),
            ("172.32.0.1", false),
            ("192.0.0.8", true),
            ("192.0.2.1", true),
            ("192.88.99.1", true),
            ("192.168.1.1", true),
            ("198.18.0.1", true),
            ("198.19.255.255", true),
            ("198.20.0.1", false),
            ("198.51.100.7", true),
            ("203.0.113.9", true),
            ("224.0.0.1", true),
            ("239.255.255.250", true),
            ("240.0.0.1", true),
            ("255.255.255.254", true),
            ("255.255.255.255", true),
            ("8.8.8.8", false),
            ("93.184.216.34", false),
            ("1.1.1.1", false),
            // IPv6.
            ("::", true),
            ("::1", true),
            ("fe80::1", true),
            ("febf::1", true),
            ("fec0::1", true),
            ("fc00::1", true),
            ("fd12:3456::1", true),
            ("ff02::1", true),
            ("ff0e::1", true),
            ("2001:db8::1", true),
            ("3fff::1", true),
            ("100::1", true),
            ("2001::1", true),
            ("2001:10::1", true),
            ("2606:4700:4700::1111", false),
            ("2a00:1450:4001:82a::200e", false),
            // IPv4 inside IPv6: judged by the embedded address.
            ("::ffff:127.0.0.1", true),
            ("::ffff:10.1.2.3", true),
            ("::ffff:8.8.8.8", false),
            ("::127.0.0.1", true),
            ("::169.254.169.254", true),
            ("::8.8.8.8", false),
            ("64:ff9b::127.0.0.1", true),
            ("64:ff9b::a9fe:a9fe", true),
            ("64:ff9b::808:808", false),
            ("64:ff9b:1::10.0.0.1", true),
            ("2002:7f00:1::", true),
            ("2002:a9fe:a9fe::1", true),
            ("2002:c0a8:101::", true),
            ("2002:808:808::1", false),
            ("::ffff:0:10.0.0.1", true),
        ];
        for (text, private) in cases {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(is_private_ip(ip), *private, "{text}");
        }
    }
}
