//! Connection-layer tests on the in-memory store, FakeDialer and ManualClock.
