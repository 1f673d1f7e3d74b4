//! The memory one remembered key costs: a key with one tier, idle but holding what it learned,
//! must fit in 128 bytes of state (the machine plus its tier storage).
#![cfg(feature = "alloc")]

use headway_core::key::{KeyMachine, KeyPolicy, Tier};
use headway_core::Quota;

#[test]
fn a_key_with_one_tier_fits_in_128_bytes() {
    let key: KeyMachine<Box<[Tier]>> =
        KeyMachine::new(&[Quota::per_second(10).unwrap()], &KeyPolicy::default()).unwrap();
    let machine = std::mem::size_of_val(&key);
    let tiers = key.quotas().count() * std::mem::size_of::<Tier>();
    println!("key state: {machine} bytes of machine + {tiers} bytes of tiers");
    assert_eq!(tiers, std::mem::size_of::<Tier>());
    assert!(machine + tiers <= 128, "{machine} + {tiers} bytes");
}
