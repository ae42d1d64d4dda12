#!/bin/sh
# A shim that implements nothing, for testing the runner's shim adapter
# (docs/SHIM.md): with "unimplemented" it answers every transcript's
# `begin` with exit status 89, which must skip the transcript; with
# "crash" it dies (status 3) after `begin`, which must fail it.
mode=$1
echo "hello version=1 caps=server,client,kat,clock,config,accounts,addr,faults"
while read -r verb rest; do
    case $verb in
    end) echo ok; exit 0 ;;
    begin)
        if [ "$mode" = unimplemented ]; then
            echo "unimplemented this shim implements nothing"
            exit 89
        fi
        echo ok ;;
    *) exit 3 ;;
    esac
done
exit 0
