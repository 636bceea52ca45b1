//! The contract's layout constants are generated from the one table (`zkperp_state::layout`):
//! the committed `contracts/src/PubdataLayout.sol` must be exactly what it generates.
//! `ZKPERP_BLESS=1` rewrites it after a layout change.

use std::path::PathBuf;

#[test]
fn the_contracts_layout_is_generated_from_the_table() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../contracts/src/PubdataLayout.sol");
    let generated = zkperp_state::layout::solidity();
    if std::env::var_os("ZKPERP_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write");
    }
    let committed = std::fs::read_to_string(&path).expect("contracts/src/PubdataLayout.sol");
    assert!(
        committed == generated,
        "{} is not what state/src/layout.rs generates: run ZKPERP_BLESS=1 cargo test -p zkperp-state --test layout",
        path.display()
    );
}
