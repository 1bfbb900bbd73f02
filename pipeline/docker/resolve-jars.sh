#!/bin/sh
# Resolve a POM's runtime dependencies from Maven Central into a directory, in an image's build stage (the
# way telemetra.dev.localstack.maven does on a workstation):
#   resolve-jars.sh POM OUT_DIR [-Dproperty=value ...]
# Two optional build secrets carry the build machine's Maven settings (a mirror, a proxy) and its Java trust
# store (e.g. a TLS-intercepting proxy's CA); they are read here and no layer keeps them:
#   --secret id=maven-settings,src=$HOME/.m2/settings.xml  --secret id=java-cacerts,src=/etc/ssl/certs/java/cacerts
set -eu
pom="$1"
out="$2"
shift 2
settings=/run/secrets/maven-settings
truststore=/run/secrets/java-cacerts
set -- -B -q -Dstyle.color=never -f "$pom" "$@" dependency:copy-dependencies -DincludeScope=runtime \
    "-DoutputDirectory=$out"
if [ -s "$settings" ]; then
    set -- -s "$settings" "$@"
fi
if [ -s "$truststore" ]; then
    MAVEN_OPTS="${MAVEN_OPTS:-} -Djavax.net.ssl.trustStore=$truststore"
    export MAVEN_OPTS
fi
mvn "$@"
ls -1 "$out"
