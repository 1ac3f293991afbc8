"""Example PET methods written exactly as a built-in one (one module with ``METHOD``), registered by the tests."""
