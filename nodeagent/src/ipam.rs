//! Pod IPs from the node's podCIDR (a /24): `.1` is the bridge, pods get `.2` to `.254`.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

#[derive(Clone, Debug)]
pub struct Ipam {
    base: [u8; 3],
    used: BTreeSet<u8>,
}

impl Ipam {
    /// From `a.b.c.0/24`; `None` for anything else.
    pub fn new(cidr: &str) -> Option<Ipam> {
        let (addr, len) = cidr.split_once('/')?;
        if len != "24" {
            return None;
        }
        let ip: Ipv4Addr = addr.parse().ok()?;
        let o = ip.octets();
        Some(Ipam { base: [o[0], o[1], o[2]], used: BTreeSet::new() })
    }

    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.base[0], self.base[1], self.base[2], 1)
    }

    /// Marks an address taken (an adopted pod's).
    pub fn reserve(&mut self, ip: &str) {
        if let Ok(ip) = ip.parse::<Ipv4Addr>() {
            let o = ip.octets();
            if o[..3] == self.base {
                self.used.insert(o[3]);
            }
        }
    }

    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        let free = (2..=254u8).find(|i| !self.used.contains(i))?;
        self.used.insert(free);
        Some(Ipv4Addr::new(self.base[0], self.base[1], self.base[2], free))
    }

    pub fn release(&mut self, ip: &str) {
        if let Ok(ip) = ip.parse::<Ipv4Addr>() {
            let o = ip.octets();
            if o[..3] == self.base {
                self.used.remove(&o[3]);
            }
        }
    }
}

/// The podCIDR of the `index`th node of an agent: 10.244.0.0/24, 10.244.1.0/24, … then 10.245.0.0/24.
pub fn node_cidr(index: usize) -> String {
    let second = 244 + (index / 256) % 12;
    format!("10.{second}.{}.0/24", index % 256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_reuses_and_reserves() {
        let mut ipam = Ipam::new("10.244.3.0/24").unwrap();
        assert_eq!(ipam.gateway().to_string(), "10.244.3.1");
        ipam.reserve("10.244.3.2");
        ipam.reserve("10.9.9.9");
        assert_eq!(ipam.allocate().unwrap().to_string(), "10.244.3.3");
        assert_eq!(ipam.allocate().unwrap().to_string(), "10.244.3.4");
        ipam.release("10.244.3.3");
        assert_eq!(ipam.allocate().unwrap().to_string(), "10.244.3.3");
        for _ in 5..=254 {
            assert!(ipam.allocate().is_some());
        }
        assert_eq!(ipam.allocate(), None);
        assert!(Ipam::new("10.0.0.0/16").is_none());
    }

    #[test]
    fn node_cidrs() {
        assert_eq!(node_cidr(0), "10.244.0.0/24");
        assert_eq!(node_cidr(257), "10.245.1.0/24");
    }
}
