"""Built-in PET methods, one module each; the registry finds every module here that defines ``METHOD``."""
