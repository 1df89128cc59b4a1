//! The page builder's tests: lanes and counts from a real run, escaping,
//! determinism.
