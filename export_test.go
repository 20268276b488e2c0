package mptcpx

// EOFRead reports whether c's follower noted that the program read the end
// of c's stream.
func EOFRead(c *Conn) bool { return c.follower.EOFRead() }
