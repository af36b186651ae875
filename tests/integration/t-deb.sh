#!/bin/bash
# The Debian package (debian/; README.md, "Debian package"), as `make deb` builds it
# with dpkg-buildpackage -us -uc -b, in a build directory of the test's own:
#  - the build succeeds and writes nothing into the source tree or beside it;
#  - the .deb holds exactly the expected files (binary, man pages, completions,
#    examples, the unit in /lib/systemd/system, the LSB script, the empty
#    /etc/kvmcg/policies, copyright, changelog), with their owners and modes;
#  - its control fields, conffiles and maintainer scripts: the service is
#    registered but neither enabled nor started on install;
#  - lintian reports no error on the .deb, .buildinfo and .changes;
#  - the packaged binary, unpacked (never installed on the host), runs, and its
#    apply on the packaged, empty policy directory says so and exits 0.
. "$(dirname "$0")/../lib/testlib.sh"

tl_host_only "builds a Debian package; nothing depends on the kernel"
case $KVMCG_BUILD_DIR in
*/asan)
	tl_skip "Debian package" "the package is built with its own flags, never with the sanitizers"
	tl_done
	;;
esac
tl_need_tools "Debian package" make dpkg-buildpackage dpkg-deb dh dh_installsystemd lintian

version=$(sed -n 's/^VERSION *:= *//p' "$TL_ROOT/Makefile")
deb_version=$(sed -n '1s/^kvmcg (\([^)]*\)).*/\1/p' "$TL_ROOT/debian/changelog")
tl_eq "debian/changelog's version is the Makefile's, Debian revision 1" "$deb_version" "$version-1"

# --- the build -------------------------------------------------------------------------
build=$TL_TMP/build
marker=$TL_TMP/marker
touch "$marker"
sleep 1 # file times are compared below with -newer
echo "# make deb BUILD=$build (dpkg-buildpackage -us -uc -b)"
if make -C "$TL_ROOT" --no-print-directory -s BUILD="$build" deb >"$TL_TMP/deb.log" 2>&1; then
	tl_ok "make deb: dpkg-buildpackage -us -uc -b exits 0"
else
	tl_fail "make deb: dpkg-buildpackage -us -uc -b exits 0"
	tail -30 "$TL_TMP/deb.log" | sed 's/^/#   /'
	tl_done
fi
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
base=kvmcg_${version}-1_$arch
deb=$build/deb/$base.deb
tl_eq "the .deb, .buildinfo and .changes are in \$(BUILD)/deb" \
	"$(find "$build/deb" -maxdepth 1 -name "$base.*" -printf '%f\n' | sort | tr '\n' ' ')" \
	"$base.buildinfo $base.changes $base.deb "
# Nothing written in the source tree (its build/ aside: another make may be at work
# there) nor beside it, where dpkg-buildpackage puts what it makes (kvmcg_VERSION_ARCH.*,
# kvmcg-dbgsym_*).
tl_eq "nothing written into the source tree (build/ aside)" \
	"$(find "$TL_ROOT" -path "$TL_ROOT/build" -prune -o -path "$TL_ROOT/.git" -prune -o -newer "$marker" -print)" ""
tl_eq "... nor beside it" \
	"$(find "$(dirname "$TL_ROOT")" -maxdepth 1 -type f \( -name 'kvmcg_*' -o -name 'kvmcg-dbgsym_*' \) -newer "$marker")" ""

# --- what it installs ----------------------------------------------------------------
# Every file, explicitly; the examples are the source's policies/*.policy, and the zsh
# and fish completions are expected where the source tree has them.
files=(
	etc/init.d/kvmcg-watch
	lib/systemd/system/kvmcg-watch.service
	usr/sbin/kvmcg
	usr/share/bash-completion/completions/kvmcg
	usr/share/doc/kvmcg/changelog.Debian.gz
	usr/share/doc/kvmcg/copyright
	usr/share/man/man5/kvmcg.policy.5.gz
	usr/share/man/man8/kvmcg.8.gz
)
for f in "$TL_ROOT"/policies/*.policy; do
	files+=("usr/share/doc/kvmcg/examples/$(basename "$f")")
done
[ -e "$TL_ROOT/contrib/zsh/_kvmcg" ] && files+=(usr/share/zsh/vendor-completions/_kvmcg)
[ -e "$TL_ROOT/contrib/fish/kvmcg.fish" ] && files+=(usr/share/fish/vendor_completions.d/kvmcg.fish)
# ... and the directories: each file's, and the empty policy directory the package owns
expected=$(
	for p in "${files[@]}" etc/kvmcg/policies/; do
		echo "./$p"
		p=${p%/}
		while [ "${p%/*}" != "$p" ]; do
			p=${p%/*}
			echo "./$p/"
		done
	done
	echo ./
)
expected=$(sort -u <<<"$expected")
tl_eq "dpkg-deb -c: exactly the expected files and directories" \
	"$(dpkg-deb -c "$deb" | awk '{ print $6 }' | sort)" "$expected"
tl_eq "owners and modes: the binary, the init script, the unit, the policy directory" \
	"$(dpkg-deb -c "$deb" | awk '$6 ~ /^\.\/(usr\/sbin\/kvmcg|etc\/init.d\/kvmcg-watch|lib\/systemd\/system\/kvmcg-watch.service|etc\/kvmcg\/policies\/)$/ { print $1, $2, $6 }' | sort -k3)" \
	"$(printf '%s\n' "-rwxr-xr-x root/root ./etc/init.d/kvmcg-watch" "drwxr-xr-x root/root ./etc/kvmcg/policies/" \
		"-rw-r--r-- root/root ./lib/systemd/system/kvmcg-watch.service" "-rwxr-xr-x root/root ./usr/sbin/kvmcg")"

root=$TL_TMP/root
dpkg-deb -x "$deb" "$root"
tl_check "the unit is the source's (ExecStart=/usr/sbin/kvmcg)" \
	cmp "$TL_ROOT/contrib/systemd/kvmcg-watch.service" "$root/lib/systemd/system/kvmcg-watch.service"
tl_check "the LSB script is the source's" cmp "$TL_ROOT/contrib/sysvinit/kvmcg-watch" "$root/etc/init.d/kvmcg-watch"
tl_check "the bash completion is the source's" \
	cmp "$TL_ROOT/contrib/bash-completion/kvmcg" "$root/usr/share/bash-completion/completions/kvmcg"
tl_check "the man pages are the source's" sh -c "zcat '$root/usr/share/man/man8/kvmcg.8.gz' | cmp - '$TL_ROOT/man/kvmcg.8' &&
	zcat '$root/usr/share/man/man5/kvmcg.policy.5.gz' | cmp - '$TL_ROOT/man/kvmcg.policy.5'"
tl_check "the copyright is machine-readable, GPL-2.0-or-later" \
	grep -qx 'License: GPL-2.0-or-later' "$root/usr/share/doc/kvmcg/copyright"

# --- control, conffiles, maintainer scripts ----------------------------------------------
field() { dpkg-deb -f "$deb" "$1"; }
tl_eq "Package, Version, Section, Architecture" \
	"$(field Package) $(field Version) $(field Section) $(field Architecture)" "kvmcg $version-1 admin $arch"
tl_eq "Depends names the libraries it links (shlibs)" \
	"$(field Depends | tr ',' '\n' | sed -n 's/^ *\(libjson-c5\|libsmartcols1\|libmnl0\|libc6\) .*/\1/p' | sort | tr '\n' ' ')" \
	"libc6 libjson-c5 libmnl0 libsmartcols1 "
ctl=$TL_TMP/control
dpkg-deb -e "$deb" "$ctl"
tl_eq "conffiles: the LSB script (everything in /etc that is a file)" "$(cat "$ctl/conffiles" 2>&1)" "/etc/init.d/kvmcg-watch"
tl_check "postinst registers the LSB script disabled (update-rc.d defaults-disabled)" \
	grep -q '^[[:space:]]*update-rc.d kvmcg-watch defaults-disabled' "$ctl/postinst"
# dh_installsystemd --no-enable: the unit is enabled again only where it was enabled
# before (an upgrade), never on a first install; and its start is deb-systemd-invoke's,
# which starts nothing that is not enabled.
tl_eq "postinst enables the unit only where it was enabled (one enable, under was-enabled)" \
	"$(grep -c 'deb-systemd-helper enable' "$ctl/postinst") $(grep -B2 'deb-systemd-helper enable' "$ctl/postinst" | grep -c 'was-enabled')" "1 1"
tl_check "prerm stops the service on removal" grep -q "deb-systemd-invoke stop 'kvmcg-watch.service'" "$ctl/prerm"

# --- lintian -----------------------------------------------------------------------------
lintian "$build/deb/$base.changes" >"$TL_TMP/lintian.out" 2>"$TL_TMP/lintian.err"
rc=$?
grep '^[WE]: ' "$TL_TMP/lintian.out" | sed 's/^/# lintian: /'
tl_eq "lintian on the .changes (the .deb and .buildinfo too): no E: line" \
	"$(grep -c '^E: ' "$TL_TMP/lintian.out")" 0
tl_eq "... and it exits 0 (it ran, and found no error)" "$rc" 0 || sed 's/^/#   /' "$TL_TMP/lintian.err" | tail -5

# --- the packaged binary works --------------------------------------------------------------
tl_eq "the packaged kvmcg runs: --version" "$("$root/usr/sbin/kvmcg" --version 2>&1)" "kvmcg $version"
export KVMCG_STATE_DIR=$TL_TMP/state
"$root/usr/sbin/kvmcg" apply --policy-dir "$root/etc/kvmcg/policies" >"$TL_TMP/apply.out" 2>&1
tl_eq "apply on the packaged, empty policy directory exits 0" "$?" 0
if grep -Eq '0 (policy )?files?|no polic(y|ies)' "$TL_TMP/apply.out"; then
	tl_ok "... and says it found no policy there"
else
	tl_fail "... and says it found no policy there"
	sed 's/^/#   /' "$TL_TMP/apply.out"
fi

tl_done
