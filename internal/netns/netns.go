package netns

import "errors"

// ErrNotHere reports that the socket's network namespace is not the calling
// thread's and could not be entered: the process may not reach it. It is
// returned wrapped together with the cause (EPERM: matches
// os.ErrPermission).
var ErrNotHere = errors.New("netns: the socket's network namespace is not this thread's and cannot be entered")
