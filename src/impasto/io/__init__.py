"""Files in and out: the one image loader and its atomic writer, video reading and writing, and the
file rules every application shares (hashes, temporary names, suffixes)."""
