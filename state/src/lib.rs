pub mod babyjubjub;
pub mod eddsa;
pub mod field;
pub mod poseidon;
