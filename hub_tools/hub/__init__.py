"""Hub access: which Hub a command talks to (endpoint, token) and binding every client library to it."""
