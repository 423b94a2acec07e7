"""The ticker cache's helpers: the memcached client and the key scheme."""
