"""Search configs: get_config() -> ConfigDict(base, space, search); see vq_ae.py."""
