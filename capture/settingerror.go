package capture

// SettingError is an error in the settings the capture was asked to open with (an
// AF_PACKET block size that is not a multiple of the page size, a fanout group out of
// range), as opposed to one the system gave (no such device, no permission, a socket the
// kernel refused). SNIFFER_ENGINE=auto falls back from afpacket to libpcap on the second
// kind only: a setting the user got wrong is said at start, not quietly replaced by
// another engine that ignores it.
type SettingError struct{ Err error }

func (e SettingError) Error() string { return e.Err.Error() }

func (e SettingError) Unwrap() error { return e.Err }
