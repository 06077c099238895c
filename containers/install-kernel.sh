#!/bin/sh
# Install the HIPPO Jupyter kernel for this user: the kernel runs inside the Apptainer image.
#
#     containers/install-kernel.sh /path/to/hippo.sif [NAME]
#
# writes ${JUPYTER_DATA_DIR:-~/.local/share/jupyter}/kernels/NAME/kernel.json (NAME: hippo)
# from containers/kernel.json with the image's absolute path filled in.
set -eu
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 IMAGE.sif [NAME]" >&2
    exit 2
fi
if [ ! -f "$1" ]; then
    echo "error: $1: no such image (build it first: see containers/README.md)" >&2
    exit 2
fi
image=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
name=${2:-hippo}
case "$image" in
    *'"'* | *'\'* | *'|'* | *'&'*)
        echo "error: $image: the path holds a character that cannot go into kernel.json here; move the image" >&2
        exit 2 ;;
esac
kernel_dir="${JUPYTER_DATA_DIR:-$HOME/.local/share/jupyter}/kernels/$name"
mkdir -p "$kernel_dir"
sed -e "s|@IMAGE@|$image|" -e "s|\"HIPPO (container)\"|\"HIPPO ($(basename "$image"))\"|" \
    "$(dirname "$0")/kernel.json" > "$kernel_dir/kernel.json.tmp"
mv "$kernel_dir/kernel.json.tmp" "$kernel_dir/kernel.json"
echo "installed the kernel '$name' in $kernel_dir (image $image)"
