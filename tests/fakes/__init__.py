"""Local fakes of outside services (venue APIs) for tests; they listen on loopback only."""
