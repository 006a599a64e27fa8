"""Packaging for dfine_mm.

``configs/`` and ``tools/`` are made reachable under ``dfine_mm/.mim`` (links
in editable installs, copies in wheels), the layout OpenMMLab's ``mim``
expects, so ``mim train dfine_mm CONFIG`` finds both.
"""

import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def read_version() -> str:
    namespace: dict = {}
    with open(osp.join(HERE, 'dfine_mm', 'version.py')) as f:
        exec(compile(f.read(), 'version.py', 'exec'), namespace)
    return namespace['__version__']


def read_requirements(name: str) -> list:
    """Return the requirement lines of ``requirements/<name>.txt``."""
    lines = []
    with open(osp.join(HERE, 'requirements', f'{name}.txt')) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line and not line.startswith('-r'):
                lines.append(line)
    return lines


def add_mim_extension() -> None:
    """Expose configs and tools under ``dfine_mm/.mim`` for ``mim``.

    Editable installs (``pip install -e .``) get symlinks, so edits show
    through; building a wheel or sdist copies the files.
    """
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif any(cmd in sys.argv for cmd in ('sdist', 'bdist_wheel', 'build')):
        mode = 'copy'
    else:
        return
    mim_root = osp.join(HERE, 'dfine_mm', '.mim')
    os.makedirs(mim_root, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(HERE, name)
        if not osp.exists(src):
            continue
        dst = osp.join(mim_root, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_root), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
        long_description = f.read()
    setup(
        name='dfine_mm',
        version=read_version(),
        description='D-FINE real-time DETR as OpenMMLab components',
        long_description=long_description,
        long_description_content_type='text/markdown',
        keywords='object detection, DETR, D-FINE, mmdetection',
        packages=find_packages(exclude=('configs', 'tools', 'tests')),
        include_package_data=True,
        python_requires='>=3.10',
        license='Apache License 2.0',
        classifiers=[
            'Programming Language :: Python :: 3.11',
            'License :: OSI Approved :: Apache Software License',
            'Topic :: Scientific/Engineering :: Image Recognition',
        ],
        install_requires=read_requirements('runtime')
        + [r for r in read_requirements('mminstall') if 'mmcv' not in r],
        extras_require={
            'mim': read_requirements('mminstall'),
            'tests': read_requirements('tests'),
            'deploy': read_requirements('deploy'),
        },
        zip_safe=False,
    )
