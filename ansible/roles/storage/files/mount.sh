#!/bin/sh
# Mount one block volume, or the shared file system, on this node; as root; safe to run again.
# The storage role runs it at boot and `invoke mount` runs this very file over SSH (remote/mounts.py), so a
# node is mounted the same way whoever mounts it.
#   mount.sh volume DEVICE VOLUME_ID MOUNT FS_TYPE PERSIST FSTAB WAIT
#   mount.sh shared KIND SOURCE MOUNT OPTIONS PERSIST FSTAB OWNER WAIT
# DEVICE is a path, or empty and VOLUME_ID is looked up under /dev/disk/by-id. Only a device blkid finds blank
# is formatted: any file system, partition table or signature it cannot read is left as it is. PERSIST=1
# writes one fstab line keyed by the mount point (replaced, never duplicated). For WAIT seconds a volume not
# attached yet, or a network share that does not mount yet, is tried again (at boot, EBS attachments come
# after the instance starts and EFS mount targets or DNS may lag); a device that is there but refused is not.
# An efs SOURCE (the file system's DNS name) is mounted through the node's TLS tunnel to it, which the storage role
# configures (tasks/efs_tls.yml) and this script starts: the file system refuses NFS without TLS.
# Prints key=value lines; on failure the error, then "hint: what to check", and a code of its own (2 for
# arguments it cannot use, 10-24).
set -eu
EFS_TLS_DIR=/etc/cloud-hpc-toolkit/efs-tls  # the role's vars/main.yml storage_efs_tls_dir
fail() { code=$1; echo "$2" >&2; echo "hint: $3" >&2; exit "$code"; }
persist_line() {  # replace the fstab line whose mount point is $2 by "$@"
  line="$*"; tmp="$fstab.toolkit.$$"
  { if [ -f "$fstab" ]; then awk -v m="$2" '$2 != m' "$fstab"; fi; echo "$line"; } > "$tmp"
  chmod 644 "$tmp"; mv "$tmp" "$fstab"
}
check_args() {  # a wait in seconds; a mount point fstab and findmnt would not mangle (they split on blanks)
  case "$wait_s" in ''|*[!0-9]*) fail 2 "wait '$wait_s' is not a number of seconds" "see the usage in mount.sh" ;;
  esac
  case "$mnt" in /*) ;; *) fail 18 "mount point '$mnt' is not an absolute path" "give an absolute path" ;; esac
  case "$mnt" in *[[:space:]\\]*) fail 18 "mount point '$mnt' has a space or a backslash" \
    "give a path without spaces or backslashes" ;; esac
}
start=$(date +%s)
time_left() {  # true, after a pause, while the wait is not over
  [ $(($(date +%s) - start)) -lt "$wait_s" ] || return 1
  sleep 2
}
waited() { [ "$wait_s" -eq 0 ] || echo " after waiting $wait_s s"; }

find_device() {  # sets dev; false while the volume is not attached (no device yet, or one of size 0)
  dev=$given
  if [ -z "$dev" ]; then
    bare=$(printf '%s' "$volid" | tr -d -)
    for cand in "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_$bare" /dev/disk/by-id/*"$volid"* \
                /dev/disk/by-id/*"$bare"*; do
      case "$cand" in *-part[0-9]*) continue ;; esac
      if [ -e "$cand" ]; then dev=$cand; break; fi
    done
    [ -n "$dev" ] || return 1
  fi
  [ -e "$dev" ] || return 1
  [ -b "$dev" ] || fail 11 "$dev is not a block device" "check the volume's device path"
  size=$(blockdev --getsize64 "$dev" 2>/dev/null) || size=0
  [ "$size" -gt 0 ]  # a loop device with no file behind it, or a disk on its way out
}

mount_volume() {
  given=$1 volid=$2 mnt=$3 want=$4 persist=$5 fstab=$6 wait_s=$7
  check_args
  # an empty id would match every entry under /dev/disk/by-id, the root disk's among them
  [ -n "$given$volid" ] || fail 2 "a volume needs a device or a volume id" "give the volume its device or id"
  until find_device; do
    time_left && continue
    [ -n "$dev" ] || fail 10 "no block device for volume $volid under /dev/disk/by-id$(waited)" \
      "check the volume id and that the volume is attached to this node"
    [ -e "$dev" ] || fail 11 "$dev does not exist$(waited)" \
      "check the volume's device path and that the disk is attached to this node"
    fail 17 "$dev has no medium (size 0)$(waited)" "the disk is not attached to this node yet, or no longer"
  done
  real=$(readlink -f "$dev")
  formatted=0 already=0
  if mountpoint -q "$mnt" 2>/dev/null; then
    src=$(findmnt -rn -o SOURCE --mountpoint "$mnt" | head -n 1)
    [ "$(readlink -f "$src")" = "$real" ] || fail 12 "$mnt already has $src mounted, not $dev" \
      "unmount what is on the mount point, or change the volume's mount point"
    fs=$(findmnt -rn -o FSTYPE --mountpoint "$mnt" | head -n 1)
    already=1
  else
    # -p probes the device itself (no blkid cache). Exit 2 with no output: no signature at all.
    rc=0; fs=$(blkid -p -o value -s TYPE "$real") || rc=$?
    if [ -z "$fs" ]; then
      pt=$(blkid -p -o value -s PTTYPE "$real" 2>/dev/null) || true
      [ -z "$pt" ] || fail 13 "$dev holds a $pt partition table and no file system; not formatting it" \
        "the disk was partitioned by someone else; wipe it by hand if its data is not needed"
      [ "$rc" -eq 2 ] || fail 14 "blkid -p $dev failed (exit $rc); not formatting it" \
        "check the device; nothing was changed on it"
      case "$want" in
        xfs) mkfs.xfs -q "$real" >&2 ;;
        *) mkfs.ext4 -q "$real" >&2 < /dev/null ;;
      esac
      formatted=1 fs=$want
    fi
    mkdir -p "$mnt"
    mount -t "$fs" "$real" "$mnt" || fail 15 "mount -t $fs $dev $mnt failed" \
      "see the mount error above; dmesg on the node may say more"
  fi
  if [ "$persist" = 1 ]; then
    uuid=$(blkid -p -o value -s UUID "$real") || true
    [ -n "$uuid" ] || fail 16 "$dev has no file system UUID for $fstab" "check the file system with blkid"
    pass=2; [ "$fs" = xfs ] && pass=0
    persist_line "UUID=$uuid" "$mnt" "$fs" defaults,nofail 0 "$pass"
  fi
  echo "device=$real"; echo "fs_type=$fs"; echo "formatted=$formatted"; echo "already_mounted=$already"
}

mount_share() {  # false when the mount failed; its error is kept in $err (one copy, not one per try)
  err=$(mount -t "$type" -o "$try_o" "$src" "$mnt" 2>&1)
}

listening() { ss -Hltn "sport = :$port" | grep -q .; }
start_tunnel() {  # the TLS tunnel to $host: its unit under systemd (restarted when it fails), else run here as
                  # its unit's user (a node without an init system, whose daemons are all started directly)
  conf="$EFS_TLS_DIR/$host.conf" unit="chpc-efs-tls@$host.service"
  [ -f "$conf" ] || fail 24 "no TLS tunnel to $host on this node ($conf is missing)" \
    "the storage role configures it at boot (tasks/efs_tls.yml); the file system refuses NFS without TLS"
  port=$(sed -n 's/^accept = 127[.]0[.]0[.]1:\([0-9][0-9]*\)$/\1/p' "$conf")
  [ -n "$port" ] || fail 24 "$conf has no 'accept = 127.0.0.1:PORT' line" "run the storage role again"
  log=/var/log/cloud-hpc-toolkit/efs-tls-$host.log
  if [ -d /run/systemd/system ]; then
    systemctl start "$unit" || fail 24 "systemctl start $unit failed" "see journalctl -u $unit"
    log="journalctl -u $unit"
  elif ! listening; then
    mkdir -p /var/log/cloud-hpc-toolkit
    # 9>&-: the tunnel outlives this run and must not hold the run's lock (fd 9, below) with it
    setsid -f setpriv --reuid stunnel4 --regid stunnel4 --init-groups stunnel4 "$conf" < /dev/null >> "$log" 2>&1 9>&-
  fi
  tries=0
  until listening; do
    tries=$((tries + 1))
    [ "$tries" -lt 50 ] || fail 24 "the TLS tunnel to $host is not listening on 127.0.0.1:$port" "see $log"
    sleep 0.2
  done
}

mount_shared() {
  kind=$1 src=$2 mnt=$3 opts=$4 persist=$5 fstab=$6 owner=$7 wait_s=$8
  shown=$src log=''  # what the user knows it by (an efs share is mounted from the tunnel's 127.0.0.1)
  check_args
  case "$kind" in
    bind) type=bind o=bind ;;
    efs)  # NFS 4.1 with the options efs-utils gives, through the tunnel's local port
      host=${src%%:*} path=/
      case "$src" in *:*) path=${src#*:} ;; esac
      case "$host" in ''|*[!a-z0-9.-]*) fail 2 "EFS source '$src' is not a DNS name" \
        "give the file system's DNS name (fs-....efs.REGION.amazonaws.com)" ;; esac
      start_tunnel
      type=nfs4 src=127.0.0.1:$path
      o=nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport,port=$port${opts:+,$opts} ;;
    nfs) type=nfs4 o=$opts ;;
    *) fail 20 "unknown shared file system kind $kind" "use kind bind, efs or nfs" ;;
  esac
  already=0
  mkdir -p "$mnt"
  if mountpoint -q "$mnt"; then
    already=1
  elif [ "$kind" = bind ]; then
    [ -e "$src" ] || fail 21 "bind source $src does not exist" "create the source directory on the node first"
    mount --bind "$src" "$mnt" || fail 22 "mount --bind $src $mnt failed" "see the mount error above"
  else
    try_o=${o:+$o,}retry=0  # each try gives up at once (mount.nfs would retry for 2 minutes): the wait is ours
    until mount_share; do
      time_left || fail 22 "mount -t $type -o $try_o $src $mnt failed$(waited): $err" \
        "check that the name resolves from the node and that its security group or \
network rules allow NFS (port 2049) from the node${log:+ (the TLS tunnel's log: $log)}"
    done
  fi
  if [ "$persist" = 1 ]; then
    fo=${o:-defaults} ft=$type
    if [ "$kind" = bind ]; then ft=none; else fo="$fo,_netdev"; fi
    [ "$kind" != efs ] || fo="$fo,x-systemd.requires=$unit"  # at boot, the tunnel first
    persist_line "$src" "$mnt" "$ft" "$fo,nofail" 0 0
  fi
  home="$mnt/.chpc"  # the toolkit's folder (remote/mounts.py TOOLKIT_DIR): jobs write there as the SSH user
  { mkdir -p "$home" && chown "$owner:" "$home" && chmod 0700 "$home"; } || \
    fail 23 "cannot make $home owned by $owner with mode 0700" \
      "the SSH user must exist on the node and root must be allowed to write the share (EFS: \
elasticfilesystem:ClientRootAccess; Azure Files NFS: root squash off), or create the folder by hand"
  echo "source=$shown"; echo "fs_type=$type"; echo "already_mounted=$already"
}

# One run at a time on a node: a run whose SSH connection dropped may still be at work when `invoke mount` runs
# again (or the boot's run when the user's starts), and two runs that both found a device blank would both format it.
exec 9> /run/chpc-mount.lock
flock 9
what=${1:-}
[ $# -gt 0 ] && shift
case "$what" in
  volume) [ $# -eq 7 ] || fail 2 "mount.sh volume takes 7 arguments, not $#" "see the usage in mount.sh"
          mount_volume "$@" ;;
  shared) [ $# -eq 8 ] || fail 2 "mount.sh shared takes 8 arguments, not $#" "see the usage in mount.sh"
          mount_shared "$@" ;;
  *) fail 2 "mount.sh: volume or shared, not '$what'" "see the usage in mount.sh" ;;
esac
