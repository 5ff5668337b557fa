//! Every end-to-end scenario on the embedded store (redb and local files behind signed
//! links): what `vidgen serve` runs by default.

#[macro_use]
mod scenarios;

scenario_tests!(vidgen_tests::Store::Embedded);
