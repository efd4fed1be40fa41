"""KERNEL inputs (directory, tarball, git, Debian, BTF), patches, the content cache."""
