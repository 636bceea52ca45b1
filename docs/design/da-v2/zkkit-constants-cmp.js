// Compares zk-kit poseidon-cipher constants (git show <zk-kit>:packages/poseidon-cipher/src/data/poseidonConstants.ts > /tmp/zkpc.ts) with circomlibjs 0.1.7 poseidon_constants.json.
const fs=require('fs');
const src=fs.readFileSync('/tmp/zkpc.ts','utf8');
const i=src.indexOf('export const M_RAW');
const C=eval(src.slice(src.indexOf('['),i).trim().replace(/;\s*$/,''));
const M=eval(src.slice(src.indexOf('[',i)).trim().replace(/;\s*$/,''));
const ref=JSON.parse(fs.readFileSync(require('path').join(__dirname, '../../../state/testdata/circomlibjs/node_modules/circomlibjs/src/poseidon_constants.json'),'utf8'));
console.log('zk-kit C widths', C.length, 'M', M.length, 'ref C', ref.C.length, 'ref M', ref.M.length);
let ok=true;
for(let k=0;k<C.length;k++){const a=C[k].map(BigInt),b=ref.C[k].map(BigInt); if(a.length!==b.length||a.some((x,j)=>x!==b[j])){ok=false;console.log('C differ at t=',k+2)}}
for(let k=0;k<M.length;k++){const a=M[k].flat().map(BigInt),b=ref.M[k].flat().map(BigInt); if(a.length!==b.length||a.some((x,j)=>x!==b[j])){ok=false;console.log('M differ at t=',k+2)}}
console.log('C[t=4] len', C[2].length, '= (8+56)*4 =', 64*4, 'all equal:', ok);
