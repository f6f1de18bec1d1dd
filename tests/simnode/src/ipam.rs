//! Pod IPs from 10.244.0.0/16, unique among the pods simnode knows about.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

const BASE: u32 = u32::from_be_bytes([10, 244, 0, 0]);
const SIZE: u32 = 1 << 16;

#[derive(Debug, Default)]
pub struct Ipam {
    by_uid: HashMap<String, Ipv4Addr>,
    used: HashSet<Ipv4Addr>,
    cursor: u32,
}

impl Ipam {
    /// Returns the pod's address, keeping `current` (what its status already says,
    /// after a simnode restart) when it is ours and free.
    pub fn allocate(&mut self, uid: &str, current: Option<&str>) -> Ipv4Addr {
        if let Some(ip) = self.by_uid.get(uid) {
            return *ip;
        }
        let keep = current
            .and_then(|s| s.parse::<Ipv4Addr>().ok())
            .filter(|ip| in_range(*ip) && !self.used.contains(ip));
        let ip = keep.unwrap_or_else(|| self.next_free());
        self.used.insert(ip);
        self.by_uid.insert(uid.to_owned(), ip);
        ip
    }

    pub fn release(&mut self, uid: &str) {
        if let Some(ip) = self.by_uid.remove(uid) {
            self.used.remove(&ip);
        }
    }

    fn next_free(&mut self) -> Ipv4Addr {
        for _ in 0..SIZE {
            self.cursor = (self.cursor + 1) % SIZE;
            let ip = Ipv4Addr::from(BASE + self.cursor);
            // Skip network, gateway and broadcast addresses of each /24, like a CNI would.
            if matches!(ip.octets()[3], 0 | 1 | 255) || self.used.contains(&ip) {
                continue;
            }
            return ip;
        }
        // 64k live pods on a test cluster: give up on uniqueness rather than crash.
        Ipv4Addr::from(BASE + 2)
    }
}

fn in_range(ip: Ipv4Addr) -> bool {
    (BASE..BASE + SIZE).contains(&u32::from(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_stable_and_reusable() {
        let mut ipam = Ipam::default();
        let a = ipam.allocate("a", None);
        let b = ipam.allocate("b", None);
        assert_ne!(a, b);
        assert_eq!(ipam.allocate("a", None), a);
        assert!(a.to_string().starts_with("10.244."));
        ipam.release("a");
        assert!(!ipam.used.contains(&a));
    }

    #[test]
    fn keeps_existing_address_unless_taken() {
        let mut ipam = Ipam::default();
        assert_eq!(
            ipam.allocate("a", Some("10.244.7.9")).to_string(),
            "10.244.7.9"
        );
        assert_ne!(
            ipam.allocate("b", Some("10.244.7.9")).to_string(),
            "10.244.7.9"
        );
        assert_ne!(
            ipam.allocate("c", Some("192.168.1.1")).to_string(),
            "192.168.1.1"
        );
    }

    #[test]
    fn skips_reserved_addresses() {
        let mut ipam = Ipam::default();
        for i in 0..600 {
            let ip = ipam.allocate(&i.to_string(), None);
            assert!(!matches!(ip.octets()[3], 0 | 1 | 255), "{ip}");
        }
    }
}
