"""`platform/` holds the code but must never shadow the standard library's `platform` module."""

import os
import platform
import sysconfig

import vlpet


def test_platform_is_the_standard_library_module():
    stdlib = sysconfig.get_paths()["stdlib"]
    assert os.path.dirname(platform.__file__) == stdlib
    assert callable(platform.system) and platform.python_version()


def test_platform_folder_is_not_a_package():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    assert not os.path.exists(os.path.join(repo, "platform", "__init__.py"))
    assert os.path.dirname(vlpet.__file__) == os.path.join(repo, "platform", "vlpet")
